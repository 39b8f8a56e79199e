"""Staff forms: meetings, roles in them, rooms, activities, assignments.

Context (the meeting, its rooms) is passed to ``__init__``; messages tell staff how to fix
the input.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import DateTimeLocalInput

from .. import vetting
from ..enums import AssignmentRole, MeetingRole, SiteRole, SupportKind
from ..fields import DayField, as_choices

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def split_lines(text: str | None) -> list[str]:
    """Non-empty stripped lines (or ``;``-separated parts) of a text box."""
    parts = re.split(r"[\n;]", text or "")
    return [" ".join(p.split()) for p in parts if p.strip()]


class MeetingForm(FlaskForm):
    name = StringField(
        "Meeting name",
        validators=[DataRequired("Enter the meeting's name."), Length(max=200)],
    )
    slug = StringField(
        "Short name (slug)",
        description="Lower-case letters, digits and hyphens, e.g. nass-2026. Used in addresses "
        "and on the command line.",
        validators=[
            DataRequired("Enter a short name such as nass-2026."),
            Length(max=80),
            Regexp(SLUG_PATTERN, message="Use only lower-case letters, digits and single hyphens "
                   "(for example nass-2026)."),
        ],
    )
    location = StringField("Location", validators=[Optional(), Length(max=200)])
    starts_on = DayField(
        "First day", validators=[InputRequired("Enter the first day as YYYY-MM-DD.")]
    )
    ends_on = DayField("Last day", validators=[InputRequired("Enter the last day as YYYY-MM-DD.")])
    timezone = StringField(
        "Time zone",
        default="America/Chicago",
        description="An IANA time zone name such as America/Chicago or Europe/Paris: session "
        "times are entered and shown in it.",
        validators=[DataRequired("Enter the meeting's time zone, e.g. America/Chicago.")],
    )
    disclosure_deadline = DayField(
        "Disclosure deadline",
        description="Faculty must disclose by this day. Leave empty for no deadline.",
        validators=[Optional()],
    )
    provider_name = StringField(
        "Accredited provider",
        description="The organisation accredited to provide the CME credit, as printed on the "
        "disclosure sheets.",
        validators=[Optional(), Length(max=200)],
    )
    joint_provider_name = StringField(
        "Joint provider",
        description="Only for jointly provided activities. Leave empty otherwise.",
        validators=[Optional(), Length(max=200)],
    )
    disclosure_policy_url = StringField(
        "Provider's disclosure policy (address)",
        description="An https address, e.g. https://cme.example.org/disclosure-policy.",
        validators=[Optional(), Length(max=500)],
    )
    submit = SubmitField("Save meeting")

    def validate_disclosure_policy_url(self, field):
        value = (field.data or "").strip()
        field.data = value
        if value and (not value.lower().startswith("https://") or len(value) <= 8
                      or any(c.isspace() for c in value)):
            raise ValidationError("Enter an address that starts with https:// (a secure "
                                  "link), e.g. https://cme.example.org/disclosure-policy.")

    def validate_slug(self, field):
        field.data = (field.data or "").strip().lower()

    def validate_timezone(self, field):
        value = (field.data or "").strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            field.data = value
            raise ValidationError(
                f"“{value}” is not a known time zone. Use a name such as America/Chicago, "
                "America/New_York or Europe/London."
            ) from None
        if value not in available_timezones() and value != "UTC":
            raise ValidationError(f"“{value}” is not a known time zone name.")
        field.data = value

    def validate_ends_on(self, field):
        if self.starts_on.data and field.data and field.data < self.starts_on.data:
            raise ValidationError("The last day cannot be before the first day.")


class RoomForm(FlaskForm):
    name = StringField(
        "Room name",
        validators=[DataRequired("Enter the room's name as it is signposted."), Length(max=120)],
    )
    submit = SubmitField("Save room")

    def validate_name(self, field):
        field.data = " ".join((field.data or "").split())


class ActivityForm(FlaskForm):
    version_id = HiddenField()
    code = StringField(
        "Activity code",
        description="The stable code of the programme (e.g. S101). Imports match activities by it.",
        validators=[DataRequired("Enter the activity's code, e.g. S101."), Length(max=40)],
    )
    title = StringField("Title", validators=[DataRequired("Enter the title."), Length(max=300)])
    room_id = SelectField("Room", coerce=int)
    starts_at = StringField(
        "Starts (meeting time)",
        widget=DateTimeLocalInput(),
        validators=[DataRequired("Enter the start as YYYY-MM-DD HH:MM.")],
    )
    ends_at = StringField(
        "Ends (meeting time)",
        widget=DateTimeLocalInput(),
        validators=[DataRequired("Enter the end as YYYY-MM-DD HH:MM.")],
    )
    topics = TextAreaField(
        "Topics", description="One per line.", validators=[Optional(), Length(max=4000)]
    )
    credit_hours = DecimalField(
        "Credit hours",
        places=2,
        default=Decimal("0"),
        validators=[
            InputRequired("Enter the credit hours (0 when none)."),
            NumberRange(min=0, max=99, message="Credit hours must be between 0 and 99."),
        ],
    )
    accreditation = SelectField(
        "Accredited for CME",
        choices=as_choices([("yes", "Yes: part of the accredited activity"),
                            ("no", "No: an industry session, a meal or another non-accredited "
                             "session")]),
        default="yes",
        description="Non-accredited sessions are listed apart on the sheets, never under the "
        "Standard 3 statement, and their people are not asked to disclose for them. "
        "Commercial support is entered on the meeting's commercial support page.",
    )
    submit = SubmitField("Save activity")

    def __init__(self, meeting, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        self.room_id.choices = as_choices([(0, "— No room yet —")] + [(r.id, r.name) for r in meeting.rooms])

    def _parse_local(self, field) -> datetime:
        raw = (field.data or "").strip().replace("T", " ")
        for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(raw, fmt).replace(tzinfo=self.meeting.tz)
            except ValueError:
                continue
        raise ValidationError("Enter the date and time as YYYY-MM-DD HH:MM (24-hour clock).")

    def validate_starts_at(self, field):
        self.starts_local = self._parse_local(field)

    def validate_ends_at(self, field):
        self.ends_local = self._parse_local(field)
        start = getattr(self, "starts_local", None)
        if start is not None and self.ends_local <= start:
            raise ValidationError("The end must be after the start.")

    def validate_code(self, field):
        field.data = (field.data or "").strip()

    @property
    def is_accredited(self) -> bool:
        return self.accreditation.data != "no"

    def fill_from(self, activity) -> None:
        """The activity as the form shows it (times in the meeting's zone)."""
        local_fmt = "%Y-%m-%dT%H:%M"
        self.version_id.data = str(activity.version_id)
        self.code.data = activity.code
        self.title.data = activity.title
        self.room_id.data = activity.room_id or 0
        self.starts_at.data = self.meeting.local(activity.starts_at).strftime(local_fmt)
        self.ends_at.data = self.meeting.local(activity.ends_at).strftime(local_fmt)
        self.topics.data = "\n".join(activity.topics or [])
        self.credit_hours.data = activity.credit_hours
        self.accreditation.data = "yes" if activity.is_accredited else "no"

    @property
    def expected_version(self) -> int | None:
        """The version of the activity the editor saw (None when the form carried none)."""
        try:
            return int(self.version_id.data)
        except (TypeError, ValueError):
            return None

    def printed_warnings(self) -> list[str]:
        """What to check in the printed fields (the title): warnings, not refusals."""
        found = [vetting.warning(self.title.data, f"The title of {self.code.data or 'the activity'}")]
        return [w for w in found if w]

    def topic_list(self) -> list[str]:
        return [" ".join(t.split()) for t in (self.topics.data or "").splitlines() if t.strip()]


class SupportForm(FlaskForm):
    """Commercial support (ACCME Standard 4) from a company in the registry."""

    company = StringField(
        "Company (as in the registry)",
        validators=[DataRequired("Enter the supporting company's name."), Length(max=200)],
        description="A confirmed company of the registry, by its name or an alias. Its public "
        "name is what learners read: no logo, no amount.",
    )
    activity_id = SelectField("Supports", coerce=int, validate_choice=True)
    kind = RadioField("Kind of support", choices=as_choices(SupportKind.choices()),
                      default=SupportKind.MONETARY.value,
                      validators=[DataRequired("Choose monetary or in kind.")])
    in_kind_detail = StringField(
        "What was given (in kind)",
        validators=[Optional(), Length(max=300, message="Keep this under 300 characters.")],
        description="e.g. “loan of ultrasound equipment”. Printed with the company's name.",
    )
    submit = SubmitField("Add commercial support")

    def __init__(self, meeting, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.activity_id.choices = as_choices(
            [(0, "The whole meeting")]
            + [(a.id, f"{a.code} · {a.title}"[:120]) for a in meeting.activities])

    def validate_in_kind_detail(self, field):
        if self.kind.data == SupportKind.IN_KIND.value and not (field.data or "").strip():
            raise ValidationError("Say what was given in kind, e.g. “loan of ultrasound equipment”.")

    def printed_warnings(self) -> list[str]:
        found = vetting.warning(self.in_kind_detail.data, "What was given in kind")
        return [found] if found else []


class AssignmentForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the person's email address."),
            Email("Enter a valid email address, like name@example.org."),
            Length(max=254),
        ],
    )
    full_name = StringField(
        "Full name",
        description="Needed only when the person has no account yet: an account is created and "
        "an invitation sent.",
        validators=[Optional(), Length(max=200)],
    )
    degrees = StringField("Degrees", validators=[Optional(), Length(max=100)])
    role = SelectField("Role", choices=as_choices([(r.value, r.label) for r in AssignmentRole.activity_level()]),
                       default=AssignmentRole.SPEAKER.value)
    submit = SubmitField("Assign")


class PlanningRoleForm(AssignmentForm):
    """A role held for the whole meeting: planning committee, course director, reviewers."""

    role = SelectField("Role", choices=as_choices([(r.value, r.label) for r in AssignmentRole.meeting_level()]),
                       default=AssignmentRole.PLANNING_COMMITTEE.value)
    submit = SubmitField("Add")


class MembershipForm(FlaskForm):
    """Give a person a role in the meeting (an account is created and invited if needed)."""

    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the person's email address."),
            Email("Enter a valid email address, like name@example.org."),
            Length(max=254),
        ],
    )
    full_name = StringField(
        "Full name",
        description="Needed only when the person has no account yet: one is created and an "
        "invitation sent.",
        validators=[Optional(), Length(max=200)],
    )
    role = SelectField("Role", choices=as_choices(MeetingRole.choices()),
                       default=MeetingRole.REVIEWER.value)
    submit = SubmitField("Give the role")


class ReissueTokenForm(FlaskForm):
    submit = SubmitField("Replace the QR code")


class AccountForm(FlaskForm):
    """A site administrator creates an account by email (the person is invited)."""

    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the person's email address."),
            Email("Enter an email address such as name@hospital.org."),
            Length(max=254),
        ],
    )
    full_name = StringField(
        "Full name", validators=[DataRequired("Enter the person's full name."), Length(max=200)]
    )
    degrees = StringField("Degrees", validators=[Length(max=100)], description="For example MD, PhD")
    institution = StringField("Institution", validators=[Length(max=200)])
    site_role = SelectField(
        "Site-wide role",
        choices=as_choices([("", "None (roles are given per meeting)"), *SiteRole.choices()]),
        default="",
        description="Administrators can do everything; auditors read every meeting's records "
        "and the audit log, and change nothing.",
    )
    submit = SubmitField("Create account and send invitation")
