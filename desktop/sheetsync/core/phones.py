"""Phone numbers to the digits-with-country-code form the API's examples use (15551234567).

Google's libphonenumber (the ``phonenumbers`` package) decides what is a possible and a
valid number: regexes cannot keep up with numbering plans. It costs about 12 us to parse
and 8-23 us to validate a number, which is seconds at 100,000 rows, so the common shapes
(plain digits in the default region) skip the parser, and validity in the North American
plan is cached by area code and exchange (NPA-NXX), which alone decide it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

_FORMATTING = re.compile(r"[\s\-().\u00a0\u2010-\u2015/]")
_EXTENSION = re.compile(r"(?:ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)


@dataclass(slots=True)  # not frozen: a frozen dataclass is built 2.5x slower, once per row
class PhoneResult:
    digits: str | None  # country code + national number, digits only; None if unusable
    warning: str | None = None  # set when usable but suspicious, or why unusable


def normalise_phone(text: str, region: str = "US") -> PhoneResult:
    raw = text.strip()
    if not raw:
        return PhoneResult(None, None)
    # str.isdecimal() is re's \d (Unicode category Nd), without the regex engine: most
    # cells hold plain digits, and this runs once per row.
    cleaned = raw if raw.isdecimal() else _FORMATTING.sub("", raw)
    if cleaned.startswith("00") and cleaned[2:].isdigit():
        cleaned = "+" + cleaned[2:]
    plain = cleaned.isdecimal() or (cleaned[:1] == "+" and cleaned[1:].isdecimal())
    national = _fast_national(cleaned, region) if plain else None
    if national is not None:  # ten digits in the North American plan: possible by construction
        digits = "1" + national
        if not _nanp_valid(int(national[:6])):
            return PhoneResult(digits, f"phone '{raw}' is not a valid {region.upper()} number (sent anyway as {digits})")
        return PhoneResult(digits)
    try:
        plain = cleaned if cleaned.startswith("+") and cleaned[1:].isdigit() else _EXTENSION.sub("", raw)
        number = phonenumbers.parse(plain, region)
    except phonenumbers.NumberParseException:
        return PhoneResult(None, f"'{raw}' is not a phone number")
    if not phonenumbers.is_possible_number(number):
        return PhoneResult(None, f"'{raw}' is not a possible phone number for {_where(number, region)}")
    digits = f"{number.country_code}{number.national_number}"
    if number.italian_leading_zero:
        digits = f"{number.country_code}{'0' * (number.number_of_leading_zeros or 1)}{number.national_number}"
    if not _is_valid(number.country_code, number.national_number, bool(number.italian_leading_zero)):
        return PhoneResult(digits, f"phone '{raw}' is not a valid {_where(number, region)} number (sent anyway as {digits})")
    return PhoneResult(digits)


def _where(number: phonenumbers.PhoneNumber, region: str) -> str:
    return phonenumbers.region_code_for_country_code(number.country_code) or region


@lru_cache(maxsize=64)
def _country_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region.upper())


def _fast_national(cleaned: str, region: str) -> str | None:
    """Plain digits in a North American region: the ten-digit national number, no parser."""
    if cleaned.startswith("+") or _country_code(region) != 1:
        return None
    digits = cleaned
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01":
        return None
    return digits


def _is_valid(country_code: int, national: int, leading_zero: bool) -> bool:
    if country_code == 1:
        return _nanp_valid(national // 10_000)
    return _valid_cached(country_code, national, leading_zero)


@lru_cache(maxsize=65_536)
def _nanp_valid(npa_nxx: int) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=1, national_number=npa_nxx * 10_000 + 1234))


@lru_cache(maxsize=65_536)
def _valid_cached(country_code: int, national: int, leading_zero: bool) -> bool:
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=national)
    if leading_zero:
        number.italian_leading_zero = True
    return phonenumbers.is_valid_number(number)


def is_known_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
