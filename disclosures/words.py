"""Small rules of written English and of comparing what people type (imports nothing).

- ``plural(count, "room")`` → "1 room", "2 rooms" (also a Jinja filter: ``n|plural("room")``).
- ``comparison_key(text)``: the same name however it is cased, spaced or punctuated
  ("ballroom a", "Ballroom-A" and "BALLROOM  A" are one room; "Session Code" and
  "session_code" are one column).
- ``signature_key(text)``: a typed name after Unicode normalisation (NFKD), case folding
  and collapsed spaces, so a name pasted in decomposed form still matches.
"""

from __future__ import annotations

import re
import unicodedata

_IRREGULAR = {"person": "people", "activity": "activities", "company": "companies",
              "reply": "replies", "is": "are", "was": "were", "has": "have"}


def plural_form(count: int, singular: str, plural: str | None = None) -> str:
    """The word alone, singular for exactly one (``plural_form(2, "room")`` → "rooms")."""
    if count == 1:
        return singular
    if plural is not None:
        return plural
    if singular in _IRREGULAR:
        return _IRREGULAR[singular]
    *head, last = singular.rsplit(" ", 1)
    if " " in singular:  # "new person", "relevant relationship": the last word varies
        return f"{head[0]} {plural_form(count, last)}"
    if singular.endswith("y") and singular[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return singular[:-1] + "ies"  # summary → summaries (day → days)
    if singular.endswith(("s", "x", "ch", "sh")):
        return singular + "es"
    return singular + "s"


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """The count and the word: "1 room", "0 rooms", "1,204 relationships"."""
    return f"{count:,} {plural_form(count, singular, plural)}"


_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+", re.UNICODE)


def comparison_key(text: str | None) -> str:
    """``text`` ignoring case, spaces and punctuation (Unicode-aware)."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return _NOT_LETTER_OR_DIGIT.sub("", folded)


def signature_key(text: str | None) -> str:
    """A typed name compared as a person reads it: NFKD, case-folded, single spaces."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text or "").casefold())
    return " ".join(folded.split())
