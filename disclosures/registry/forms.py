"""Forms of the company registry and of owner/employee decisions."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    Form,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..enums import OwnerException


class CompanyFilterForm(Form):
    """Filters of the company registry list, read from the query string."""

    q = StringField("Name or alias", validators=[Length(max=200, message="Type at most 200 characters.")])
    show = SelectField(
        "Show",
        choices=[
            SelectChoice("review", "Needing review"),
            SelectChoice("all", "All companies"),
            SelectChoice("ineligible", "Ineligible"),
            SelectChoice("eligible", "Eligible"),
        ],
        default="review",
    )
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1, max=100000)])


class ConfirmCompanyForm(FlaskForm):
    name = StringField(
        "Public name",
        validators=[Length(max=200, message="Shorten the public name to 200 characters.")],
        description="As learners will read it: the company's correct legal name, without "
        "trade names, ® or ™, or slogans. Left blank, the name above is kept.",
    )
    eligibility = RadioField(
        "Is this an ineligible company?",
        choices=[
            SelectChoice(
                "ineligible",
                "Ineligible: produces, markets, sells or distributes healthcare products used on patients",
            ),
            SelectChoice(
                "eligible",
                "Eligible: hospital, practice, insurer, software, publisher, school, society …",
            ),
        ],
        validators=[InputRequired("Choose whether the company is ineligible or eligible.")],
    )
    note = TextAreaField(
        "Note (optional)",
        validators=[Length(max=2000, message="Keep the note under 2,000 characters.")],
        description="Why, for the record: for example the company's main business.",
    )
    confirm = SubmitField("Confirm")


class AliasForm(FlaskForm):
    alias = StringField(
        "Other spelling",
        validators=[
            InputRequired("Type the other spelling, for example J&J."),
            Length(max=200, message="Type at most 200 characters."),
        ],
        description="Faculty typing this spelling will be matched to this company.",
    )
    add_alias = SubmitField("Add alias")


class MergeForm(FlaskForm):
    target = StringField(
        "Merge into",
        validators=[
            InputRequired("Type the name of the company that should remain."),
            Length(max=200, message="Type at most 200 characters."),
        ],
        description="The company that remains. Every relationship of this one moves to it, "
        "and this name becomes one of its aliases.",
        render_kw={"list": "company-suggestions", "autocomplete": "off", "data-company-input": ""},
    )
    merge = SubmitField("Merge")


class OwnerDecisionForm(FlaskForm):
    """One decision about one person and one company they own or work for."""

    company = HiddenField(validators=[InputRequired("Reload the page and decide again.")])
    seen = HiddenField(default="0")  # the decision in force when the page was opened
    exception = RadioField(
        "Is this person an owner or employee, and if so which Standard 3 exception applies?",
        choices=[SelectChoice(v, label) for v, label in OwnerException.choices()],
        validators=[InputRequired("Choose the exception that applies, that none does (excluded), "
                                  "or that the person is not an owner or employee.")],
    )
    note = TextAreaField(
        "Reasoning",
        validators=[
            InputRequired("Explain the decision in a sentence or two for the record."),
            Length(max=4000, message="Keep the reasoning under 4,000 characters."),
        ],
        description="For example: the talk covers coding and billing, unrelated to the company's "
        "products; or, for “not an owner or employee”: the shares are of a publicly traded company.",
    )
    save = SubmitField("Record decision")

    @property
    def company_id(self) -> int | None:
        try:
            return int(self.company.data)
        except (TypeError, ValueError):
            return None

    @property
    def seen_decision_id(self) -> int:
        try:
            return max(0, int(self.seen.data or 0))
        except (TypeError, ValueError):
            return -1
