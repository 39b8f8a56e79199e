"""Select choices for WTForms 3.3+, which deprecates plain (value, label) tuples."""

from collections.abc import Iterable

from wtforms.fields.choices import SelectChoice


def as_choices(pairs: Iterable[tuple]) -> list[SelectChoice]:
    """``[(value, label), ...]`` → ``[SelectChoice(value, label), ...]``."""
    return [SelectChoice(value, label) for value, label in pairs]
