"""The disclosure form: a yes/no choice, repeating relationship rows, off-label use, attestation.

The forms only parse what was typed; the rules (24-month window, dates, the
has/has-not cross-check, the attestation) live in ``operations.check_disclosure``
and come back here as messages on the fields they concern.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from .. import vetting
from ..enums import Nature
from ..fields import DayField
from . import operations

MAX_ROWS = 40
YES_NO_HAS = [  # {months}: DISCLOSURE_LOOKBACK_MONTHS, filled in when the form is made
    ("yes", "I have had financial relationships with ineligible companies in the past {months} months"),
    ("no", "I have had none"),
]
YES_NO_OFF_LABEL = [
    SelectChoice("yes", "Yes, it will discuss unlabelled or investigational uses"),
    SelectChoice("no", "No"),
]

# Each choice that needs one says what it covers, so nobody has to know the rule (stock in
# a publicly traded company is an ordinary relationship; private stock makes an owner).
NATURE_HELP = " ".join(f"{n.label}: {n.help_text}" for n in Nature if n.offered and n.help_text)


def _yes_no(value) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class RelationshipForm(Form):
    """One row. Every field is optional here: a blank row is ignored, a partial row is refused
    by the rules with a message on the missing field."""

    company = StringField(
        "Company",
        validators=[Length(max=200, message="Shorten the company name to 200 characters.")],
        render_kw={"list": "company-suggestions", "autocomplete": "off", "data-company-input": ""},
    )
    nature = SelectField(
        "Nature of the relationship",
        choices=[SelectChoice("", "Choose…"),
                 *(SelectChoice(v, label) for v, label in Nature.offered_choices())],
        validate_choice=False,
        description=NATURE_HELP,
    )
    started_on = DayField("Started on", validators=[Optional()])
    ended_on = DayField("Ended on", validators=[Optional()])
    ongoing = BooleanField("Ongoing", render_kw={"data-ongoing": ""})
    detail = StringField(
        "Detail (required for “Other”)",
        validators=[Length(max=500, message="Keep the detail under 500 characters.")],
        description="For example the product area or your role. No amounts are needed. "
        "For “Other”, a short description (learners read it in place of “Other”).",
    )
    remove = SubmitField("Remove this relationship", render_kw={"data-remove-row": ""})

    def to_entry(self) -> operations.RelationshipEntry:
        nature = self.nature.data or ""
        return operations.RelationshipEntry(
            company_name=(self.company.data or "").strip(),
            nature=Nature(nature) if nature in Nature._value2member_map_ else None,
            started_on=self.started_on.data,
            ended_on=self.ended_on.data,
            ongoing=bool(self.ongoing.data),
            detail=(self.detail.data or "").strip() or None,
        )


class DisclosureForm(FlaskForm):
    has_relationships = RadioField(
        "Financial relationships with ineligible companies",
        choices=[SelectChoice(value, label) for value, label in YES_NO_HAS],
        validate_choice=False,
    )
    relationships = FieldList(FormField(RelationshipForm), min_entries=1, max_entries=MAX_ROWS)
    add_relationship = SubmitField("Add another relationship", render_kw={"data-add-row": ""})
    attestation_name = StringField(
        "Type your full name to sign",
        validators=[Length(max=200, message="Type your name in under 200 characters.")],
        render_kw={"autocomplete": "name"},
    )
    attested_complete = BooleanField(
        "This disclosure is complete: it lists every financial relationship with an ineligible "
        "company in the past {months} months, whatever the amount."
    )
    submit = SubmitField("Submit disclosure")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        months = operations.lookback_months()
        self.has_relationships.choices = [
            SelectChoice(value, label.format(months=months)) for value, label in YES_NO_HAS
        ]
        self.attested_complete.label.text = self.attested_complete.label.text.format(months=months)

    # -- buttons that change the rows instead of submitting

    def row_action(self) -> str | None:
        """"add" or "remove" when a row button (not Submit) was pressed; the rows are updated."""
        if self.add_relationship.data:
            if len(self.relationships.entries) < MAX_ROWS:
                self.relationships.append_entry()
            return "add"
        for index, row in enumerate(self.relationships.entries):
            if row.form.remove.data:
                self.relationships.entries.pop(index)
                if not self.relationships.entries:
                    self.relationships.append_entry()
                return "remove"
        return None

    def to_entry(self) -> operations.DisclosureEntry:
        return operations.DisclosureEntry(
            has_relationships=_yes_no(self.has_relationships.data),
            relationships=[row.form.to_entry() for row in self.relationships.entries],
            attestation_name=self.attestation_name.data or "",
            attested_complete=bool(self.attested_complete.data),
        )

    def printed_warnings(self) -> list[str]:
        """What to check in the printed fields (each "Other" description) before learners
        read them: warnings, never refusals."""
        found = []
        for number, row in enumerate(self.relationships.entries, start=1):
            if row.form.nature.data == Nature.OTHER.value:
                found.append(vetting.warning(row.form.detail.data,
                                             f"Relationship {number}: the description"))
        return [w for w in found if w]

    def add_problems(self, problems: list[operations.Problem]) -> None:
        """Attach each rule's message to the field it concerns."""
        for problem in problems:
            if problem.row is not None:
                target = self.relationships.entries[problem.row].form[problem.field]
            else:
                target = self[problem.field]
            if not isinstance(target.errors, list):
                target.errors = list(target.errors)
            target.errors.append(problem.message)

    def all_errors(self) -> list[tuple[str, str]]:
        """(field id, message) for the summary at the top, rows labelled by number."""
        found: list[tuple[str, str]] = []
        for name in ("has_relationships",):
            found += [(self[name].id, e) for e in self[name].errors]
        for number, row in enumerate(self.relationships.entries, start=1):
            for sub in row.form:
                for error in sub.errors:
                    found.append((sub.id, f"Relationship {number}: {error}"))
        for name in ("attestation_name", "attested_complete"):
            found += [(self[name].id, e) for e in self[name].errors]
        return found

    def fill_from(self, disclosure, lookback_from) -> None:
        """Start from the previous version, leaving out relationships now outside the window."""
        rows = [
            r
            for r in disclosure.relationships
            if r.ended_on is None or r.ended_on >= operations.window_start(lookback_from)
        ]
        self.has_relationships.data = "yes" if rows else "no"
        if rows:
            self.relationships.entries = []
            self.relationships.last_index = -1  # numbering restarts at relationships-0
            for r in rows:
                self.relationships.append_entry(
                    {
                        "company": r.company.name,
                        "nature": r.nature.value,
                        "started_on": r.started_on,
                        "ended_on": r.ended_on,
                        "ongoing": r.ended_on is None,
                        "detail": r.detail or "",
                    }
                )
                if not r.nature.offered:  # the former "ownership interest": ask which kind
                    field = self.relationships.entries[-1].form.nature
                    field.data = ""
                    field.errors = [
                        f"You disclosed an ownership interest in {r.company.name}. Say which kind: "
                        f"“{Nature.PUBLIC_STOCK.label}”, or “{Nature.PRIVATE_STOCK.label}”."]


class CompanyQueryForm(Form):
    """What is typed in a company field, read from the query string (no CSRF: changes nothing)."""

    q = StringField("Company", validators=[Length(max=200)])




class OffLabelForm(FlaskForm):
    """Off-label or investigational use in one presentation (one role): printed only for it."""

    discusses_off_label = RadioField(
        "Will this presentation discuss unlabelled or investigational uses of drugs or devices?",
        choices=YES_NO_OFF_LABEL,
        validate_choice=False,
    )
    off_label_detail = TextAreaField(
        "Complete the sentence: “This presentation includes discussion of …”",
        validators=[Length(max=2000, message="Keep this under 2,000 characters.")],
        description="Name the drug or device and the use, e.g. “off-label use of rhBMP-2 in "
                    "the cervical spine”. Printed for this presentation only: on the room "
                    "sheet, the all-faculty page and your first slide.",
    )

    def fill_from(self, assignment) -> None:
        self.discusses_off_label.data = "yes" if assignment.discusses_off_label else "no"
        self.off_label_detail.data = assignment.off_label_detail or ""

    def validate_discusses_off_label(self, field):
        if _yes_no(field.data) is None:
            raise ValidationError("Say whether this presentation will discuss unlabelled or "
                                  "investigational uses.")

    def validate_off_label_detail(self, field):
        if _yes_no(self.discusses_off_label.data) and not (field.data or "").strip():
            raise ValidationError("Name the drugs or devices and the unlabelled or "
                                  "investigational uses you will discuss.")

    def declaration(self) -> tuple[bool, str | None]:
        yes = bool(_yes_no(self.discusses_off_label.data))
        return yes, ((self.off_label_detail.data or "").strip() or None) if yes else None

    def printed_warnings(self) -> list[str]:
        found = vetting.warning(self.off_label_detail.data, "The off-label detail") \
            if _yes_no(self.discusses_off_label.data) else None
        return [found] if found else []
