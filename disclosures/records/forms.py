"""Forms of the records pages: the audit log's filters."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from ..fields import DayField


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: nothing changes

    person = StringField("Person (email or name)", validators=[Optional(), Length(max=200)])
    actor = StringField("Done by (email or name)", validators=[Optional(), Length(max=200)])
    action = StringField("Action", description="e.g. determination or user.invited",
                         validators=[Optional(), Length(max=64)])
    date_from = DayField("From", validators=[Optional()])
    date_to = DayField("To", validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)], default=1)

    def validate_date_to(self, field):
        if self.date_from.data and field.data and field.data < self.date_from.data:
            raise ValidationError("“To” cannot be before “From”.")
