"""Query-string forms of the public pages (GET, so no CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeField, IntegerField, SearchField, StringField
from wtforms.validators import Length, NumberRange, Optional, Regexp, ValidationError

from ..documents.data import fold
from ..fields import PageSizeForm  # noqa: F401  (the public pages' paper size)

# A search must name at least this many letters (after case and accents are folded): one
# letter matches nearly everyone, and a search answers a page of people, never the whole list.
SEARCH_MIN_LENGTH = 2
SEARCH_MAX_LENGTH = 100


class _GetForm(FlaskForm):
    class Meta:
        csrf = False


class SearchForm(_GetForm):
    q = SearchField(
        "Search by name or company",
        description=f"At least {SEARCH_MIN_LENGTH} letters of a name or a company.",
        validators=[Optional(), Length(
            max=SEARCH_MAX_LENGTH,
            message=f"Search for at most {SEARCH_MAX_LENGTH} characters: a name or a company.")],
    )
    page = StringField(
        "Page",
        validators=[Optional(), Regexp(r"^[1-9][0-9]{0,3}$", message=(
            "The page number must be a whole number from 1 to 9999: use the page links "
            "under the results."))],
    )

    def validate_q(self, field) -> None:
        if 0 < len(fold(field.data or "")) < SEARCH_MIN_LENGTH:
            raise ValidationError(
                f"Type at least {SEARCH_MIN_LENGTH} letters of a name or a company, or choose "
                "the first letter of the family name below.")

    def query(self) -> str:
        """The search as typed (surrounding spaces removed); empty: no search."""
        return (self.q.data or "").strip()

    def page_number(self) -> int:
        return int(self.page.data or 1)


class VersionForm(_GetForm):
    """Which published version of a sheet: ``?version=N``, or the one public ``?at=`` a
    moment in the meeting's time (YYYY-MM-DDTHH:MM); neither: the current one."""

    version = IntegerField("Version", validators=[
        Optional(), NumberRange(min=1, max=1_000_000, message="A version is a number from 1.")])
    at = DateTimeField("At", format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
                       validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.at.errors:
            self.at.errors = ["Write the moment as YYYY-MM-DDTHH:MM in the meeting's time, "
                              "for example ?at=2027-10-07T09:30."]
        return ok

    def validate_at(self, field):
        if field.data is not None and self.version.data is not None:
            raise ValidationError("Ask for a version or a moment (?at=), not both.")
