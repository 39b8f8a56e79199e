"""Forms of the programme import: the upload, and the confirmation of a preview."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp


class ImportUploadForm(FlaskForm):
    file = FileField(
        "Programme file (CSV or XLSX)",
        validators=[FileRequired("Choose a CSV or XLSX file to upload.")],
    )
    submit = SubmitField("Preview import")


class ImportConfirmForm(FlaskForm):
    upload_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])
    submit = SubmitField("Import now")


