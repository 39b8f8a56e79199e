"""Form fields, choices and forms every feature shares (WTForms 3.3+)."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, Optional


def as_choices(pairs: Iterable[tuple]) -> list[SelectChoice]:
    """``[(value, label), ...]`` → ``[SelectChoice(value, label), ...]`` (WTForms 3.3
    deprecates plain tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


class DayField(DateField):
    """A date typed as YYYY-MM-DD (what a browser's date picker sends); a date that does
    not parse is refused with the field's name and an example."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(
                f"Enter “{self.label.text}” as year-month-day (YYYY-MM-DD), for example 2027-10-06."
            ) from None


class ConfirmForm(FlaskForm):
    """A POST with only its CSRF token (remove, send reminders, confirm)."""

    submit = SubmitField("Confirm")


class PageSizeForm(FlaskForm):
    """``?size=letter|a4`` of a printable PDF (a GET: no CSRF token)."""

    class Meta:
        csrf = False

    size = StringField(
        "Paper size",
        validators=[Optional(), AnyOf(["letter", "a4"], message="Choose the paper size letter or a4.")],
    )

    def page_size(self) -> str:
        return self.size.data or "letter"
