"""One small world every route can be called in, and a digest of the whole database.

Used by the authorisation table (tests/test_authorisation.py) and the no-500 suite:
``build_world()`` makes a meeting with two rooms, faculty A (with a reviewed, mitigated
disclosure) sharing an activity with a reviewer, faculty B elsewhere, a reviewer,
staff, an invited person and a company awaiting staff review. ``url_for_rule(rule, world)``
fills every argument of a URL rule from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from disclosures.auth import operations as account_operations
from disclosures.enums import AssignmentRole, Nature
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    ApiToken,
    Assignment,
    Company,
    Determination,
    Disclosure,
    Job,
    Manufacturer,
    Meeting,
    Mitigation,
    Relationship,
    Room,
    User,
)

from . import factories

ROLES = ("anonymous", "faculty_a", "faculty_b", "co_reviewer", "reviewer", "staff",
         "other_staff", "auditor", "admin")


@dataclass
class World:
    staff: User
    other_staff: User
    auditor: User
    admin: User
    reviewer: User
    co_reviewer: User
    faculty_a: User
    faculty_b: User
    invited: User
    invitation_token: str
    reset_token: str
    meeting: Meeting
    room: Room
    other_room: Room
    activity: Activity
    other_activity: Activity
    assignment_a: Assignment
    assignment_co: Assignment
    assignment_b: Assignment
    company: Company
    new_company: Company
    disclosure_a: Disclosure
    relationship: Relationship
    other_relationship: Relationship
    determination: Determination
    mitigation: Mitigation
    job: Job  # the meeting's records ZIP, built and downloadable
    manufacturer: Manufacturer | None = None  # an Open Payments manufacturer not yet linked
    api_token: ApiToken | None = None  # a current API token of the meeting
    support: object | None = None  # commercial support of A's activity (Standard 4)

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


def build_world() -> World:
    meeting = factories.meeting(name="Spine Annual Meeting")
    other_meeting = factories.meeting(name="Hand Surgery Course")
    staff = factories.staff(meeting, full_name="Sam Staff", cleared=True)
    other_staff = factories.staff(other_meeting, full_name="Olga Otherstaff")
    auditor = factories.auditor(full_name="Audrey Auditor")
    admin = factories.admin(full_name="Ada Admin")
    factories.cleared_role(admin, meeting, AssignmentRole.CONTENT_STAFF)  # reviews A: disclosed too
    reviewer = factories.reviewer(meeting, full_name="Rita Reviewer")
    co_reviewer = factories.reviewer(meeting, full_name="Carl Cofaculty")
    faculty_a = factories.user(full_name="Alice Able")
    faculty_b = factories.user(full_name="Bob Baker")
    invited = factories.user(full_name="Ivy Invited", password=False)
    invitation_token = invited.issue_invitation(timedelta(days=3))

    room = factories.room(meeting, "Hall A")
    other_room = factories.room(meeting, "Hall B")
    activity = factories.activity(meeting, room, title="Lumbar fusion outcomes")
    other_activity = factories.activity(meeting, other_room, title="Practice management")
    assignment_a = factories.assignment(faculty_a, activity)
    assignment_co = factories.assignment(co_reviewer, activity, AssignmentRole.MODERATOR)
    assignment_b = factories.assignment(faculty_b, other_activity)

    company = factories.company("Acme Spine Devices")
    new_company = factories.company("Typed In Pharma", needs_review=True)
    other = factories.company("Other Biologics")
    disclosure_a = factories.disclosure(
        faculty_a, [(company, Nature.CONSULTANT), (other, Nature.SPEAKER)]
    )
    relationship, other_relationship = disclosure_a.relationships
    factories.disclosure(faculty_b, [])
    determination = factories.determination(relationship, assignment_a, reviewer, relevant=True)
    mitigation = factories.mitigation(determination, reviewer)
    reset_token = account_operations.password_reset_token(faculty_a)
    job = _records_zip_job(meeting, staff)
    manufacturer = Manufacturer(cms_id="100000000777", name="Unlinked Devices, Inc.")
    db.session.add(manufacturer)
    api_token = ApiToken(meeting_id=meeting.id, name="Programme system", token_hash="0" * 64,
                         hint="000000", created_by_id=staff.id)
    db.session.add(api_token)
    support = factories.support(meeting, "Keystone Surgical Supply", "Loan of instruments",
                                activity_=activity)
    db.session.flush()
    return World(
        staff=staff, other_staff=other_staff, auditor=auditor, admin=admin, reviewer=reviewer, co_reviewer=co_reviewer, faculty_a=faculty_a,
        faculty_b=faculty_b, invited=invited, invitation_token=invitation_token,
        reset_token=reset_token, meeting=meeting, room=room, other_room=other_room,
        activity=activity, other_activity=other_activity, assignment_a=assignment_a,
        assignment_co=assignment_co, assignment_b=assignment_b, company=company,
        new_company=new_company, disclosure_a=disclosure_a, relationship=relationship,
        other_relationship=other_relationship, determination=determination,
        mitigation=mitigation, manufacturer=manufacturer, job=job, api_token=api_token,
        support=support,
    )


def _records_zip_job(meeting: Meeting, staff: User) -> Job:
    """A finished records ZIP job of the meeting, its file still downloadable."""
    from datetime import timedelta

    from disclosures.enums import JobKind, JobStatus
    from disclosures.models import utcnow

    job = Job(kind=JobKind.RECORDS_ZIP, meeting=meeting, started_by=staff, status=JobStatus.DONE,
              done=1, total=1, errors=[], report={}, params={}, result_name="records.zip",
              result_data=b"PK\x05\x06" + b"\x00" * 18, result_size=22,
              result_expires_at=utcnow() + timedelta(hours=1), finished_at=utcnow())
    db.session.add(job)
    return job


def rule_arguments(endpoint: str, world: World) -> dict:
    """The value of each URL argument a rule can take, from the world."""
    tokens = {
        "auth.accept_invitation": world.invitation_token,
        "auth.reset_password": world.reset_token,
        "public.room_sheet": world.room.public_token,
        "public.room_sheet_pdf": world.room.public_token,
    }
    return {
        "token": tokens.get(endpoint),
        "disclosure_id": world.disclosure_a.id,
        "assignment_id": world.assignment_a.id,
        "meeting_id": world.meeting.id,
        "user_id": world.faculty_a.id,
        "relationship_id": world.relationship.id,
        "determination_id": world.determination.id,
        "company_id": world.new_company.id,
        "membership_id": world.co_reviewer.memberships[0].id,
        "room_id": world.room.id,
        "activity_id": world.activity.id,
        "job_id": world.job.id,
        "slug": world.meeting.slug,
        "manufacturer_id": world.manufacturer.id,
        "api_token_id": world.api_token.id,
        "commercial_support_id": world.support.id,
        "letter": "a",  # Alice Able's family name: the all-faculty page of her letter
        "page": 1,
    }


def url_for_rule(rule, world: World) -> str:
    arguments = rule_arguments(rule.endpoint, world)
    values = {name: arguments[name] for name in rule.arguments}
    missing = [name for name, value in values.items() if value is None]
    assert not missing, f"tests/routes.py cannot fill {missing} of {rule.endpoint}: add them"
    return rule.build(values, append_unknown=False)[1]


def checked_rules(app):
    """(endpoint, method, rule) for every route but static files; HEAD/OPTIONS are Flask's."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule))
    return found


# Bytes derived from what is published, built on the first request and kept so that every
# app server serves the same file: storing one is not a change anyone made.
DERIVED_TABLES = {"sheet_pdf"}


def database_digest() -> str:
    """A hash of every row of every table (but the derived PDFs), in primary-key order:
    equal means nothing changed."""
    digest = hashlib.sha256()
    db.session.rollback()
    for table in db.metadata.sorted_tables:
        if table.name in DERIVED_TABLES:
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        digest.update(table.name.encode())
        for row in db.session.execute(sa.select(table).order_by(*order)):
            digest.update(repr(tuple(row)).encode())
    db.session.rollback()
    return digest.hexdigest()


def row_counts() -> dict[str, int]:
    db.session.rollback()
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }
