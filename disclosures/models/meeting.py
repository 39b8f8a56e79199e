"""The programme: meetings, rooms, activities (sessions) and who holds which role."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..enums import AssignmentRole, AssignmentState, MeetingRole, SupportKind
from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow
from .user import hash_token

if TYPE_CHECKING:
    from .disclosure import Company, Disclosure
    from .publication import Statement
    from .review import Determination
    from .user import User


def meeting_start(starts_on: date, tz: str) -> datetime:
    """A meeting's first day at 00:00 in its time zone, as an aware UTC datetime."""
    return datetime.combine(starts_on, time(0, 0), ZoneInfo(tz)).astimezone(UTC)


def new_room_token() -> str:
    """128 bits from the OS CSPRNG, URL-safe (22 characters): unguessable, short enough to
    type from a sign, and a coarse QR code. Codes issued before were 43 characters (256
    bits); they keep working until they are re-issued."""
    return secrets.token_urlsafe(16)


class Meeting(db.Model):
    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    location: Mapped[Optional[str]] = mapped_column(sa.String(200))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    timezone: Mapped[str] = mapped_column(sa.String(64), default="America/Chicago")
    disclosure_deadline: Mapped[Optional[date]]
    # The accredited provider (and joint provider) named on sheets, and its disclosure
    # policy (an https address). Empty until staff set them.
    provider_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    joint_provider_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    disclosure_policy_url: Mapped[Optional[str]] = mapped_column(sa.String(500))
    # Programme import: required column -> header key staff chose (programme.reading).
    import_column_map: Mapped[Optional[dict]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Bumped, with a PublicationStep, in the transaction that changes anything public.
    publication_seq: Mapped[int] = mapped_column(default=0)

    rooms: Mapped[list[Room]] = relationship(
        back_populates="meeting", order_by="Room.name", cascade="all, delete-orphan"
    )
    activities: Mapped[list[Activity]] = relationship(
        back_populates="meeting", order_by="Activity.starts_at", cascade="all, delete-orphan"
    )
    # Current roles only (revoked ones stay in the table, for the record).
    memberships: Mapped[list[Membership]] = relationship(
        primaryjoin="and_(Meeting.id == Membership.meeting_id, Membership.revoked_at.is_(None))",
        viewonly=True,
    )

    __table_args__ = (sa.CheckConstraint("ends_on >= starts_on", name="ends_after_start"),)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    @property
    def starts_at(self) -> datetime:
        """The meeting's start: its first day, 00:00 in its time zone (as UTC). Roles held
        for the whole meeting are judged as of this moment."""
        return meeting_start(self.starts_on, self.timezone)

    def __repr__(self) -> str:
        return f"<Meeting {self.slug}>"


class Room(db.Model):
    __tablename__ = "room"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    public_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_room_token)
    token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="rooms")
    activities: Mapped[list[Activity]] = relationship(
        back_populates="room", order_by="Activity.starts_at"
    )
    retired_tokens: Mapped[list[RoomTokenRetired]] = relationship(
        back_populates="room", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.UniqueConstraint("meeting_id", "name"),)

    def reissue_token(self) -> str:
        """A new token; the old one stops showing the sheet at once and is kept, hashed,
        as a ``RoomTokenRetired`` (callers audit it)."""
        now = utcnow()
        if self.public_token:
            self.retired_tokens.append(
                RoomTokenRetired(token_hash=hash_token(self.public_token), retired_at=now)
            )
        self.public_token = new_room_token()
        self.token_issued_at = now
        return self.public_token

    def __repr__(self) -> str:
        return f"<Room {self.id} {self.name!r}>"


class RoomTokenRetired(db.Model):
    """A room code that was replaced (its SHA-256 only). Someone scanning the old printed
    sign is told which meeting it was for and where its disclosures are, instead of a
    bare "not found"; the sheet itself is only ever shown for the current code."""

    __tablename__ = "room_token_retired"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("room.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    room: Mapped[Room] = relationship(back_populates="retired_tokens")


class Activity(db.Model):
    """An educational session in a room: what faculty control content of."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    room_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("room.id"), index=True)
    # Stable code from the programme file, so re-imports update in place.
    code: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(300))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    topics: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    credit_hours: Mapped[Decimal] = mapped_column(sa.Numeric(4, 2), default=Decimal("0"))
    # False for industry sessions and meals: listed apart on what learners read, never
    # under the Standard 3 statement, and nobody is asked to disclose for them.
    is_accredited: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(default=1)

    meeting: Mapped[Meeting] = relationship(back_populates="activities")
    room: Mapped[Optional[Room]] = relationship(back_populates="activities")
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="activity", order_by="Assignment.id"
    )
    # Current commercial support (removed rows stay, for the record).
    supports: Mapped[list[CommercialSupport]] = relationship(
        primaryjoin="and_(Activity.id == CommercialSupport.activity_id, "
                    "CommercialSupport.removed_at.is_(None))",
        order_by="CommercialSupport.id", viewonly=True,
    )

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "code"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("credit_hours >= 0", name="credit_hours_positive"),
        sa.Index("ix_activity_room_start", "room_id", "starts_at"),
    )

    def __repr__(self) -> str:
        return f"<Activity {self.code}>"


class Assignment(db.Model):
    """A person's role in an activity, or for the whole meeting (``activity_id`` empty:
    planning committee, course director, reviewers, staff who control content, see
    ``AssignmentRole.is_meeting_level``). Never deleted: removal keeps the history.

    ``meeting_id`` is always set (an activity role's is its activity's meeting), so every
    query by meeting reads one column whatever the kind of role. A CHECK keeps the two
    kinds apart: meeting-level roles have no activity, activity roles have one.

    ``state`` is the role's state as judged at its start (``starts_at``: the activity's
    start, or the meeting's first day at 00:00 in its time zone) by ``state.judge``:
    stored, and written only by ``publication.refresh``, which the operations that
    change its inputs call in their own transaction. List pages read it; nothing else
    decides it. ``statement_id`` is the public statement in force (``Statement``).
    """

    __tablename__ = "assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    activity_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("activity.id"), index=True)
    role: Mapped[AssignmentRole] = mapped_column(enum_column(AssignmentRole, "assignment_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Off-label or investigational use this presentation discusses, declared by the person
    # for this role (printed only for it; each change is audited and republished).
    discusses_off_label: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    off_label_detail: Mapped[Optional[str]] = mapped_column(sa.Text, info={"max_length": 2000})

    state: Mapped[AssignmentState] = mapped_column(
        enum_column(AssignmentState, "assignment_state"),
        default=AssignmentState.AWAITING_DISCLOSURE, index=True,
    )
    state_reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The disclosure version in force at the start (submitted before it), if any.
    state_disclosure_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("disclosure.id"))
    # A decision about this role was recorded after its start: kept, and said so.
    is_late: Mapped[bool] = mapped_column(default=False)
    statement_id: Mapped[Optional[int]] = mapped_column(
        sa.ForeignKey("statement.id", use_alter=True, name="fk_assignment_statement_id_statement")
    )
    version_id: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(back_populates="assignments", foreign_keys=[user_id])
    meeting: Mapped[Meeting] = relationship()
    activity: Mapped[Optional[Activity]] = relationship(back_populates="assignments")
    determinations: Mapped[list[Determination]] = relationship(back_populates="assignment")
    state_disclosure: Mapped[Optional[Disclosure]] = relationship(foreign_keys=[state_disclosure_id])
    statement: Mapped[Optional[Statement]] = relationship(foreign_keys=[statement_id])

    __mapper_args__ = {"version_id_col": version_id}
    __table_args__ = (
        sa.UniqueConstraint("user_id", "activity_id", "role"),
        # A person holds each meeting-level role once per meeting (removed ones come back).
        sa.Index("uq_assignment_meeting_role", "user_id", "meeting_id", "role", unique=True,
                 sqlite_where=sa.text("activity_id IS NULL"),
                 postgresql_where=sa.text("activity_id IS NULL")),
        sa.CheckConstraint(
            "(activity_id IS NULL) = (role IN (" + ", ".join(
                f"'{r.value}'" for r in AssignmentRole.meeting_level()) + "))",
            name="meeting_role_has_no_activity",
        ),
    )

    def __init__(self, **kwargs):
        # An activity role belongs to its activity's meeting: callers need not say it twice.
        activity = kwargs.get("activity")
        if activity is not None and "meeting" not in kwargs and "meeting_id" not in kwargs:
            if activity.meeting is not None:
                kwargs["meeting"] = activity.meeting
            else:
                kwargs["meeting_id"] = activity.meeting_id
        super().__init__(**kwargs)

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None

    @property
    def is_meeting_level(self) -> bool:
        return self.activity_id is None and self.activity is None

    @property
    def starts_at(self) -> datetime:
        """When the role is assumed: its activity's start, or the meeting's start."""
        return self.activity.starts_at if self.activity is not None else self.meeting.starts_at

    @property
    def title(self) -> str:
        """What the role is about, as lists show it: the activity, or the whole meeting."""
        return self.activity.title if self.activity is not None else "Whole meeting"

    def __repr__(self) -> str:
        where = f"activity={self.activity_id}" if self.activity_id else f"meeting={self.meeting_id}"
        return f"<Assignment {self.id} user={self.user_id} {where}>"


def asks_disclosure():
    """SQL: someone must disclose for this role (ACCME Standard 3): it is held for the whole
    meeting, or in an accredited activity. A role in a non-accredited activity (an industry
    session, a meal) is nobody's to-do: not reminded, reviewed, counted or listed. Needs
    ``Activity`` (outer-)joined to ``Assignment``."""
    return sa.or_(Assignment.activity_id.is_(None), Activity.is_accredited)


class CommercialSupport(db.Model):
    """Commercial support (ACCME Standard 4) from a company in the registry: for one
    activity, or for the whole meeting (``activity_id`` empty); monetary or in kind (what
    was given). Acknowledged to learners by the company's name (and the in-kind nature),
    never a logo or an amount. Removal keeps the row (``removed_at``), for the record."""

    __tablename__ = "commercial_support"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    activity_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("activity.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    kind: Mapped[SupportKind] = mapped_column(enum_column(SupportKind, "support_kind"))
    in_kind_detail: Mapped[Optional[str]] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    removed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    removed_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))

    meeting: Mapped[Meeting] = relationship()
    activity: Mapped[Optional[Activity]] = relationship()
    company: Mapped[Company] = relationship()

    __table_args__ = (
        sa.CheckConstraint("kind != 'in_kind' OR in_kind_detail IS NOT NULL",
                           name="in_kind_says_what"),
    )

    @property
    def acknowledged(self) -> tuple[str, str | None]:
        """(company name, in-kind nature or None): what learners read."""
        return (self.company.name,
                self.in_kind_detail if self.kind is SupportKind.IN_KIND else None)

    def __repr__(self) -> str:
        return f"<CommercialSupport {self.id} company={self.company_id} activity={self.activity_id}>"


class Membership(db.Model):
    """A role a person holds in one meeting (staff, reviewer): what they may do there.

    Granting and revoking are audited (``membership.granted`` / ``membership.revoked``). A
    revoked membership stays, with when and by whom it ended, so the record says who
    could review or manage a meeting at any time; a person holds each role at most once
    at a time.
    """

    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meeting.id"), index=True)
    role: Mapped[MeetingRole] = mapped_column(enum_column(MeetingRole, "meeting_role"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    meeting: Mapped[Meeting] = relationship()
    granted_by: Mapped[Optional[User]] = relationship(foreign_keys=[granted_by_id])
    revoked_by: Mapped[Optional[User]] = relationship(foreign_keys=[revoked_by_id])

    __table_args__ = (
        sa.Index("uq_membership_current", "user_id", "meeting_id", "role", unique=True,
                 sqlite_where=sa.text("revoked_at IS NULL"),
                 postgresql_where=sa.text("revoked_at IS NULL")),
    )

    @property
    def is_current(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<Membership {self.user_id} {self.role} in {self.meeting_id}>"
