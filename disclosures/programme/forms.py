"""Forms of the programme import: the upload, and the confirmation of a preview."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.validators import DataRequired, Regexp

from ..fields import as_choices
from .reading import REQUIRED_COLUMNS, HeaderColumn

UPLOAD_ID = r"^[A-Za-z0-9_-]{16,64}$"


class ImportUploadForm(FlaskForm):
    file = FileField(
        "Programme file (CSV or XLSX)",
        validators=[FileRequired("Choose a CSV or XLSX file to upload.")],
    )
    submit = SubmitField("Preview import")


class ImportConfirmForm(FlaskForm):
    upload_id = HiddenField(validators=[DataRequired(), Regexp(UPLOAD_ID)])
    submit = SubmitField("Import now")


def column_field_name(column: str) -> str:
    return "column_" + column.replace(" ", "_")


class ColumnMapForm(FlaskForm):
    """Which of the file's columns holds each required programme column: one select per
    required column (added by ``column_map_form`` with the file's headers as choices)."""

    upload_id = HiddenField(validators=[DataRequired(), Regexp(UPLOAD_ID)])
    submit = SubmitField("Use these columns and preview")

    def column_fields(self):
        return [(column, self[column_field_name(column)]) for column in REQUIRED_COLUMNS]

    def column_map(self) -> dict[str, str]:
        """Required column → the header key chosen."""
        return {column: field.data for column, field in self.column_fields()}

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        seen: dict[str, str] = {}
        for column, field in self.column_fields():
            if field.data and field.data in seen:
                field.errors.append(f"The same column already holds the {seen[field.data]}: "
                                    f"choose the column that holds the {column}.")
                valid = False
            elif field.data:
                seen[field.data] = column
        return valid


def column_map_form(columns: list[HeaderColumn]) -> type[ColumnMapForm]:
    """A ``ColumnMapForm`` whose selects list ``columns`` (header, with a sample value)."""
    choices = as_choices([("", "— choose a column —")] + [
        (c.key, f"{c.text} (e.g. {c.sample})" if c.sample else f"{c.text} (empty in row 2)")
        for c in columns])

    class Form(ColumnMapForm):
        pass

    for column in REQUIRED_COLUMNS:
        setattr(Form, column_field_name(column), SelectField(
            column.capitalize(), choices=choices,
            validators=[DataRequired(f"Choose the column of the file that holds the {column}.")]))
    return Form


