"""All models, importable from one place (and seen by Alembic)."""

from .api import API_TOKEN_PREFIX, ApiToken, new_api_token
from .audit import AuditEvent, AuditLogIsAppendOnly
from .base import AppendOnly, RecordIsAppendOnly, UTCDateTime, add_length_checks, utcnow
from .disclosure import Company, CompanyAlias, Disclosure, Relationship, normalise_company_name
from .job import Job, JobMessage
from .meeting import (
    Activity,
    Assignment,
    CommercialSupport,
    Meeting,
    Membership,
    Room,
    RoomTokenRetired,
    asks_disclosure,
    new_room_token,
)
from .openpayments import Manufacturer, OpenPayment, OpenPaymentsImport, OpenPaymentsReview
from .publication import PublicationStep, SheetPdf, SheetVersion, Statement
from .review import Determination, Mitigation, OwnerDecision
from .user import LoginSession, Reminder, User, hash_token, normalise_email

add_length_checks(Company.metadata)

__all__ = [
    "API_TOKEN_PREFIX",
    "ApiToken",
    "new_api_token",
    "AppendOnly",
    "OwnerDecision",
    "PublicationStep",
    "RecordIsAppendOnly",
    "SheetPdf",
    "SheetVersion",
    "Statement",
    "Activity",
    "Assignment",
    "CommercialSupport",
    "asks_disclosure",
    "AuditEvent",
    "AuditLogIsAppendOnly",
    "Company",
    "CompanyAlias",
    "Determination",
    "Disclosure",
    "LoginSession",
    "Job",
    "JobMessage",
    "Manufacturer",
    "Meeting",
    "Membership",
    "Mitigation",
    "OpenPayment",
    "OpenPaymentsImport",
    "OpenPaymentsReview",
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
