"""Generated workbooks, cached in bench/out/ (git-ignored); each run works on a copy."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .proc import ROOT, child_env, run

OUT = ROOT / "bench" / "out"
MAX_ROWS = 1_048_575  # Excel's last row minus the header


def cached(rows: int, *, styled: bool = True) -> Path:
    """The cached workbook of ``rows`` contacts, made once (in a child process)."""
    path = OUT / f"contacts_{rows}_{'styled' if styled else 'plain'}.xlsx"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.xlsx")
        print(f"  making {path.name} ...", file=sys.stderr, flush=True)
        code = (
            "import sys; from pathlib import Path; "
            "from sheetsync.sandbox.workbooks import make_contacts_workbook; "
            f"make_contacts_workbook(Path(sys.argv[1]), {rows}, styled={styled})"
        )
        run([sys.executable, "-c", code, str(tmp)], env=child_env()).check(f"make {path.name}")
        tmp.rename(path)
    return path


def working_copy(source: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    shutil.copyfile(source, target)
    return target
