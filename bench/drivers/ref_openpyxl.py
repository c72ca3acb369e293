"""The reference: what other tools do. openpyxl full load + three result columns + save."""

from __future__ import annotations

import datetime as dt
import sys

from openpyxl import load_workbook


def main(path: str, out: str) -> None:
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    last = ws.max_row
    col = ws.max_column + 1
    for offset, header in enumerate(("Sync Status", "Sync Message", "Synced At")):
        ws.cell(row=1, column=col + offset, value=header)
    stamp = dt.datetime.now().replace(microsecond=0)
    for row in range(2, last + 1):
        ws.cell(row=row, column=col, value="created")
        ws.cell(row=row, column=col + 1, value=None)
        ws.cell(row=row, column=col + 2, value=stamp)
    wb.save(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
