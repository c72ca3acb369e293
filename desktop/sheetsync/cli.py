"""Command line: placeholder, replaced below."""


def main(argv: list[str] | None = None) -> int:
    return 0


def gui_main() -> int:
    return 0
