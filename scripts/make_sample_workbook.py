"""Make resources/sample-contacts.xlsx, the demo's workbook (run once; the file is committed).

python scripts/make_sample_workbook.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

ROWS = [
    # first, last, email, phone, company, tier, signed up, notes, status
    ("Jane", "Doe", "jane.doe@example.com", "(555) 123-4567", "Acme Corp", "pro", dt.date(2026, 1, 5), "met at the expo", ""),
    ("John", "Smith", "John.Smith@Example.com", "+1 415 555 0142", "Globex", "basic", dt.date(2026, 2, 11), "", ""),
    ("Maria", "Garcia", "maria.garcia@example.org", "16465550187", "Initech", "pro", dt.date(2026, 3, 2), "prefers SMS", ""),
    ("Wei", "Chen", "wei.chen@example.net", "212.555.0123", "Umbrella", "enterprise", dt.date(2025, 12, 20), "", ""),
    ("Aisha", "Khan", "aisha.khan@example.com", "", "Hooli", "basic", dt.date(2026, 4, 1), "email only", ""),
    ("Liam", "O'Brien", "", "+44 20 7946 0958", "Stark Ind.", "pro", dt.date(2026, 1, 28), "UK number", ""),
    ("Sofia", "Rossi", "sofia.rossi@example.it", "+39 06 6982 1234", "Wayne Ent.", "basic", dt.date(2026, 2, 2), "", ""),
    ("Noah", "Williams", "noah.williams@example", "312-555-0160", "Acme Corp", "basic", dt.date(2026, 2, 14), "typo in the email", ""),
    ("Emma", "Brown", "not an email", "", "Globex", "pro", dt.date(2026, 3, 9), "no usable contact", ""),
    ("Lucas", "Müller", "lucas.mueller@example.de", "+49 30 901820", "Initech", "enterprise", dt.date(2026, 3, 15), "", ""),
    ("Olivia", "Jones", "olivia.jones@example.com", "7185550134", "Umbrella", "pro", dt.date(2026, 3, 18), "", "completed"),
    ("Mateo", "López", "mateo.lopez@example.mx", "305 555 0172", "Hooli", "basic", dt.date(2026, 3, 21), "", ""),
    ("Jane", "Doe", "jane.doe@example.com", "", "Acme Corp", "pro", dt.date(2026, 3, 30), "same person, again", ""),
    ("Yuki", "Tanaka", "yuki.tanaka@example.jp", "206 555 0115", "Stark Ind.", "enterprise", dt.date(2026, 4, 3), "", ""),
    ("Chloé", "Dubois", "chloe.dubois@example.fr", "+33 1 42 68 53 00", "Wayne Ent.", "pro", dt.date(2026, 4, 7), "", ""),
    ("Omar", "Haddad", "omar.haddad@example.com", "6175550199", "Acme Corp", "basic", dt.date(2026, 4, 9), "", "disqualified"),
    ("Grace", "Kim", "grace.kim@example.com", "503 555 0128", "Globex", "pro", dt.date(2026, 4, 12), "", ""),
    ("Ethan", "Nguyen", "ethan.nguyen@example.com", "702 555 0147", "Initech", "basic", dt.date(2026, 4, 15), "", ""),
    ("Zara", "Ali", "zara.ali@example.com", "404 555 0163", "Umbrella", "enterprise", dt.date(2026, 4, 18), "", ""),
    ("Ben", "Taylor", "ben.taylor@example.com", "214 555 0181", "Hooli", "pro", dt.date(2026, 4, 21), "", ""),
]


def main() -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "Contacts"
    headers = ["First Name", "Last Name", "E-mail Address", "Mobile Phone", "Company",
               "Plan Tier", "Signed Up", "Notes", "Status"]
    ws.append(headers)
    for row in ROWS:
        ws.append(list(row))
    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="2F5597")
    for cell in ws[1]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center")
    for row in ws.iter_rows(min_row=2, min_col=7, max_col=7):
        for cell in row:
            cell.number_format = "yyyy-mm-dd"
    widths = [12, 12, 28, 18, 14, 11, 12, 22, 12]
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[chr(64 + index)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:I{len(ROWS) + 1}"
    tiers = DataValidation(type="list", formula1='"basic,pro,enterprise"', allow_blank=True)
    ws.add_data_validation(tiers)
    tiers.add(f"F2:F{len(ROWS) + 1}")
    about = wb.create_sheet("About")
    about["A1"] = "Sheet Sync sample workbook"
    about["A1"].font = Font(bold=True, size=14)
    about["A3"] = "Rows in Contacts:"
    about["B3"] = f"=COUNTA(Contacts!A2:A{len(ROWS) + 1})"
    about["A4"] = "The demo maps the columns automatically; Notes stays on this computer."
    target = Path(__file__).resolve().parents[1] / "resources" / "sample-contacts.xlsx"
    target.parent.mkdir(exist_ok=True)
    wb.save(target)
    return target


if __name__ == "__main__":
    print(main())
