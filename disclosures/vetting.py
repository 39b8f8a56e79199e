"""Printed text that needs a second look before learners read it (imports nothing of ours).

Standard 3 statements and Standard 4 acknowledgements name companies plainly: no trade
names or ® / ™ signs, no slogans ("#1 in spine"), no web addresses, no prices. Whatever
faculty or staff type into a field that is printed (a company's public name, the
description of an "Other" relationship, the off-label detail, an activity's title, a
commercial supporter) is checked here. ``flags`` says what was found; it is a warning
for people to act on, never a refusal, except where a rule says so (staff cannot confirm
a company's public name with ® or ™ in it: ``registry.operations.confirm_company``).
"""

from __future__ import annotations

import re

TRADEMARK_SIGNS = ("®", "™", "℠")

_CHECKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a trademark sign (® or ™)", re.compile(r"[®™℠]|\((?:r|tm)\)", re.IGNORECASE)),
    ("a ranking claim such as “#1”", re.compile(
        r"#\s*1\b|\bnumber\s+one\b", re.IGNORECASE)),
    ("a web address", re.compile(
        r"https?://|\bwww\.|\b[a-z0-9][a-z0-9-]*\.(?:com|org|net|io|co|biz|info|health|uk|eu)\b",
        re.IGNORECASE)),
    ("a price", re.compile(
        r"[$€£¥₹]\s*\d|\d\s*[$€£¥₹]|\b\d[\d,.]*\s*(?:usd|eur|gbp|dollars?|euros?)\b"
        r"|\b(?:usd|eur|gbp)\s*\d", re.IGNORECASE)),
)


def flags(text: str | None) -> list[str]:
    """What in ``text`` should not be printed for learners, in plain words (empty: nothing)."""
    if not text:
        return []
    return [label for label, pattern in _CHECKS if pattern.search(text)]


def has_trademark_sign(text: str | None) -> bool:
    """True when ``text`` carries ®, ™ or ℠ (or their typed forms "(R)", "(TM)")."""
    return bool(text) and bool(_CHECKS[0][1].search(text))


def warning(text: str | None, what: str = "This text") -> str | None:
    """One sentence telling the reader what to check in ``text`` before it is printed."""
    found = flags(text)
    if not found:
        return None
    listed = found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]
    return (f"{what} contains {listed}. Learners read it as printed: use plain names, "
            "without trade marks, slogans, web addresses or prices.")
