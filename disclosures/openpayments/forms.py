"""Forms of the Open Payments cross-check."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import MultipleFileField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from ..enums import OpenPaymentsAction
from .npi import clean_npi, npi_problem


class NpiForm(FlaskForm):
    npi = StringField(
        "NPI (National Provider Identifier)",
        validators=[Length(max=20, message="An NPI has 10 digits.")],
        description="Optional, US clinicians only: 10 digits, as in the NPI Registry. Used to "
        "compare disclosures with the payments companies report to CMS (Open Payments). "
        "Leave empty to remove it.",
    )
    submit = SubmitField("Save NPI")

    def validate_npi(self, field) -> None:
        npi = clean_npi(field.data)
        if npi:
            problem = npi_problem(npi)
            if problem:
                raise ValidationError(problem)


class ImportForm(FlaskForm):
    files = MultipleFileField(
        "Open Payments files (CSV)",
        description="General, Research or Ownership files as CMS publishes them, one or more. "
        "Only payments to people with a role in a meeting (by their NPI) are kept.",
    )
    submit = SubmitField("Import")

    def validate_files(self, field) -> None:
        chosen = [f for f in field.data or [] if getattr(f, "filename", "")]
        if not chosen:
            raise ValidationError("Choose at least one CSV file to import.")
        for upload in chosen:
            if not upload.filename.lower().endswith(".csv"):
                raise ValidationError(f"{upload.filename} is not a CSV file: upload the CSV "
                                      "files CMS publishes (unzipped).")


class LinkManufacturerForm(FlaskForm):
    company = StringField(
        "Registry company",
        validators=[InputRequired("Type the name of the registry company this manufacturer is."),
                    Length(max=200, message="Type at most 200 characters.")],
    )
    submit = SubmitField("Link")


class ActionForm(FlaskForm):
    action = RadioField(
        "What was done",
        choices=[SelectChoice(a.value, a.label) for a in OpenPaymentsAction],
        validators=[InputRequired("Choose what was done about these payments.")],
    )
    note = TextAreaField(
        "Note",
        validators=[Length(max=2000, message="Keep the note under 2,000 characters.")],
        description="For the record, e.g. what the person answered.",
    )
    submit = SubmitField("Record")

    def validate_note(self, field) -> None:
        if self.action.data in (OpenPaymentsAction.EXPLAINED.value,
                                OpenPaymentsAction.NOT_APPLICABLE.value) and not (field.data or "").strip():
            raise ValidationError("Say in a note why: the record must show the reason.")

    @property
    def action_enum(self) -> OpenPaymentsAction:
        return OpenPaymentsAction(self.action.data)
