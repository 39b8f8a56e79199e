"""The National Provider Identifier: 10 digits, the last a Luhn check digit computed over
the prefix 80840 and the first nine digits (CMS, "NPI check digit")."""

from __future__ import annotations

import re

NPI_PREFIX = "80840"


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that completes ``digits``."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 0:  # the rightmost digit of the payload is doubled
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def npi_problem(npi: str) -> str | None:
    """Why ``npi`` (spaces and dashes already removed) is not an NPI, or None."""
    if not re.fullmatch(r"[0-9]{10}", npi):
        return "An NPI has exactly 10 digits, for example 1234567893."
    if luhn_check_digit(NPI_PREFIX + npi[:9]) != int(npi[9]):
        return (f"{npi} is not a valid NPI: its last digit (the check digit) does not match the "
                "other nine. Check it against the NPI Registry and type it again.")
    return None


def clean_npi(text: str | None) -> str:
    """The NPI as typed, without spaces and dashes ("123-456 7893" → "1234567893")."""
    return re.sub(r"[\s\-]", "", text or "")
