"""All models, importable from one place (and seen by Alembic)."""

from .audit import AuditEvent, AuditLogIsAppendOnly
from .base import UTCDateTime, add_length_checks, utcnow
from .disclosure import Company, CompanyAlias, Disclosure, Relationship, normalise_company_name
from .job import Job, JobMessage
from .meeting import (
    Activity,
    Assignment,
    Meeting,
    Membership,
    Room,
    RoomTokenRetired,
    new_room_token,
)
from .review import Determination, Mitigation
from .user import LoginSession, Reminder, User, hash_token, normalise_email

add_length_checks(Company.metadata)

__all__ = [
    "Activity",
    "Assignment",
    "AuditEvent",
    "AuditLogIsAppendOnly",
    "Company",
    "CompanyAlias",
    "Determination",
    "Disclosure",
    "LoginSession",
    "Job",
    "JobMessage",
    "Meeting",
    "Membership",
    "Mitigation",
    "Relationship",
    "Reminder",
    "Room",
    "RoomTokenRetired",
    "User",
    "UTCDateTime",
    "hash_token",
    "new_room_token",
    "normalise_company_name",
    "normalise_email",
    "utcnow",
]
