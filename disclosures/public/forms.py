"""Query-string forms of the public pages (GET, so no CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SearchField, StringField
from wtforms.validators import AnyOf, Length, Optional


class _GetForm(FlaskForm):
    class Meta:
        csrf = False


class PageSizeForm(_GetForm):
    size = StringField(
        "Paper size",
        validators=[Optional(), AnyOf(["letter", "a4"], message="Choose the paper size letter or a4.")],
    )

    def page_size(self) -> str:
        return self.size.data or "letter"


class SearchForm(_GetForm):
    q = SearchField(
        "Search by name or company",
        validators=[Optional(), Length(max=100, message="Search for at most 100 characters: a name or a company.")],
    )
