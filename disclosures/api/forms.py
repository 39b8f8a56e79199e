"""Forms of the staff page that issues and revokes API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class IssueTokenForm(FlaskForm):
    name = StringField(
        "What the token is for",
        description="The app or system that will use it, e.g. “Meeting app (vendor)”. "
                    "Staff see this name; the app never does.",
        validators=[DataRequired("Name the app or system this token is for."),
                    Length(max=120, message="Keep the name under 120 characters.")],
    )
    submit = SubmitField("Issue a token")

    def validate_name(self, field):
        field.data = " ".join((field.data or "").split())


class RevokeTokenForm(FlaskForm):
    submit = SubmitField("Revoke")
