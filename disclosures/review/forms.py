"""Forms for the review queue, relevance determinations and mitigations."""

from __future__ import annotations

from datetime import date, timedelta

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..enums import AssignmentRole, AssignmentState, MitigationMethod
from ..fields import DayField, as_choices
from .operations import FACULTY_METHODS, mitigation_methods

RATIONALE_MAX = 2000
MAX_ID = 2**31 - 1  # the largest id an integer column holds

# Queue state filters: what needs a reviewer's action by default.
STATE_NEEDS_ACTION = "needs_action"
STATE_EXCLUDED_PENDING = "excluded_pending"
STATE_ALL = "all"
QUEUE_STATES = as_choices([
    (STATE_NEEDS_ACTION, "Needs a reviewer"),
    (AssignmentState.AWAITING_REVIEW.value, AssignmentState.AWAITING_REVIEW.label),
    (AssignmentState.NEEDS_MITIGATION.value, AssignmentState.NEEDS_MITIGATION.label),
    (STATE_EXCLUDED_PENDING, "Excluded: staff decision needed"),
    (AssignmentState.EXCLUDED.value, "Excluded (all)"),
    (AssignmentState.CLEARED.value, AssignmentState.CLEARED.label),
    (STATE_ALL, "All disclosed"),
])

class QueueFilterForm(FlaskForm):
    """GET filters of the queue: read from the query string, no CSRF (changes nothing)."""

    class Meta:
        csrf = False

    meeting = SelectField("Meeting", validators=[Optional()], default="")
    day = SelectField("Day", validators=[Optional()], default="")
    room = SelectField("Room", validators=[Optional()], default="")
    role = SelectField(
        "Role", choices=as_choices([("", "Any role"), *AssignmentRole.choices()]), validators=[Optional()], default=""
    )
    state = SelectField("State", choices=QUEUE_STATES, default=STATE_NEEDS_ACTION)
    page = IntegerField(
        "Page", validators=[Optional(), NumberRange(min=1, message="Pages start at 1.")], default=1
    )

    def __init__(self, *args, meetings=(), meeting=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.meeting.choices = as_choices([("", "All meetings")] + [(str(m.id), m.name) for m in meetings])
        self.day.choices = as_choices([("", "Any day")])
        self.room.choices = as_choices([("", "Any room")])
        if meeting is not None:
            days = (meeting.ends_on - meeting.starts_on).days + 1
            self.day.choices += as_choices(
                ((meeting.starts_on + timedelta(days=n)).isoformat(),
                 (meeting.starts_on + timedelta(days=n)).strftime("%a %b %-d"))
                for n in range(days)
            )
            self.room.choices += as_choices((str(r.id), r.name) for r in meeting.rooms)

    @property
    def room_id(self) -> int | None:
        return int(self.room.data) if self.room.data else None

    @property
    def day_date(self) -> date | None:
        return date.fromisoformat(self.day.data) if self.day.data else None


class SeenDisclosure:
    """The disclosure version a decision form was rendered from (hidden ``disclosure`` field).

    The operations refuse a decision when the person's latest disclosure is another one;
    a form without the field is out of date and refused here.
    """

    disclosure = HiddenField()

    @property
    def seen_disclosure_id(self) -> int | None:
        value = _version(self.disclosure.data)
        return value if 0 < value <= MAX_ID else None

    def validate_disclosure(self, field):
        if self.seen_disclosure_id is None:
            raise ValidationError(
                "The form does not say which disclosure it was made from: reload the page and decide again."
            )


class DeterminationForm(SeenDisclosure, FlaskForm):
    relevance = RadioField(
        "Is this relationship relevant to the content of this role?",
        choices=as_choices([("relevant", "Relevant"), ("not_relevant", "Not relevant")]),
        validators=[InputRequired("Choose “Relevant” or “Not relevant”.")],
    )
    rationale = TextAreaField(
        "Rationale",
        validators=[
            DataRequired("Give the reason in a sentence: the accreditor reads it."),
            Length(max=RATIONALE_MAX, message=f"Keep the rationale under {RATIONALE_MAX} characters."),
        ],
        description="Why the content is (or is not) related to the company's business lines or products.",
    )
    version = HiddenField(default="0")
    submit = SubmitField("Save decision")

    @property
    def is_relevant(self) -> bool:
        return self.relevance.data == "relevant"

    @property
    def seen_version(self) -> int:
        return _version(self.version.data)

    def validate_version(self, field):
        _check_version(field.data)


class NoneRelevantForm(SeenDisclosure, FlaskForm):
    rationale = TextAreaField(
        "Rationale for every undecided pair",
        validators=[
            DataRequired("Give the reason none of the relationships is relevant."),
            Length(max=RATIONALE_MAX, message=f"Keep the rationale under {RATIONALE_MAX} characters."),
        ],
        # A suggestion, not a default: a request without the field (or a reviewer who does
        # not read it) must not record a rationale nobody wrote.
        render_kw={"placeholder": "e.g. The content of these roles is not related to the business "
                                  "lines or products of these companies."},
    )
    submit = SubmitField("Record “not relevant” for every undecided pair")


class MitigationForm(SeenDisclosure, FlaskForm):
    method = SelectField("Mitigation", validators=[DataRequired("Choose how the relationship is mitigated.")])
    notes = TextAreaField(
        "Notes",
        validators=[Length(max=RATIONALE_MAX, message=f"Keep the notes under {RATIONALE_MAX} characters.")],
        description="Who did what and when, e.g. “Slides peer reviewed by Dr. Chen on May 2”.",
    )
    in_place_on = DayField(
        "Put in place on",
        validators=[Optional()],
        description="The day the mitigation was in place (today if left blank). One put in "
        "place after the session started is kept but flagged late, and the role is not "
        "mitigated as of its start.",
    )
    version = HiddenField(default="0")
    submit = SubmitField("Record mitigation")

    def __init__(self, *args, role: AssignmentRole | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        methods = mitigation_methods(role) if role is not None else FACULTY_METHODS
        self.method.choices = as_choices([("", "Choose…")] + [(m.value, m.label) for m in methods])

    @property
    def method_enum(self) -> MitigationMethod:
        return MitigationMethod(self.method.data)

    @property
    def seen_version(self) -> int:
        return _version(self.version.data)

    def validate_notes(self, field):
        if self.method.data == MitigationMethod.OTHER.value and not (field.data or "").strip():
            raise ValidationError("Describe the mitigation in the notes when you choose “Other”.")

    def validate_version(self, field):
        _check_version(field.data)


def _version(raw) -> int:
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        return -1


def _check_version(raw) -> None:
    if _version(raw) < 0:
        raise ValidationError("The form is out of date: reload the page and decide again.")
