"""One log file for support, with the API key scrubbed from every record."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class RedactFilter(logging.Filter):
    """Replaces any known secret in a record's final text (belt and braces: the key is
    never passed to a logger, but a server could echo it in an error body)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                if secret and secret in text:
                    text = text.replace(secret, "[redacted]")
            record.msg, record.args = text, None
        return True


redactor = RedactFilter()


def configure(log_file: Path | None, *, verbose: bool = False) -> Path | None:
    """Log to ``log_file`` (rotating, 1 MB x 3) and, when verbose, to stderr."""
    root = logging.getLogger("sheetsync")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # stamina (retries) logs each scheduled retry; into our log, never onto the terminal.
    retries = logging.getLogger("stamina")
    retries.propagate = False
    retries.addHandler(logging.NullHandler())
    for logger in (root, retries):
        for handler in list(logger.handlers):
            if getattr(handler, "_sheetsync", False):
                logger.removeHandler(handler)
                handler.close()
    written = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler: logging.Handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8", delay=True
            )
            written = log_file
        except OSError:
            handler = logging.NullHandler()
        _attach(root, handler)
        _attach(retries, handler)
    if verbose:
        _attach(root, logging.StreamHandler())
    return written


def _attach(root: logging.Logger, handler: logging.Handler) -> None:
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(redactor)
    handler._sheetsync = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def add_secret(secret: str | None) -> None:
    if secret:
        redactor.secrets.add(secret)
