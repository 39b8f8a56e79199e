"""Refusals an operation gives, which a view turns into the answer the person reads.

Every feature's error is a ``Refusal`` (400: the input or the state does not allow it)
or a ``Conflict`` (409: someone else changed the same thing first). The message says
what happened and how to go on; ``field`` names the form field it concerns, if any.
Imports nothing from the package.
"""

from __future__ import annotations


class Refusal(ValueError):
    """An operation refused; nothing it did is kept (the view rolls back)."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Conflict(Refusal):
    """Someone saved the same thing first; nothing was overwritten."""

    status = 409


CONCURRENT_SAVE = (
    "Someone else saved a change to this at the same moment. Nothing you sent was saved: "
    "reload the page to see their change, then make yours again."
)
