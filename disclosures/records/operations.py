"""Records for the accreditor: per-meeting CSV / JSON / ZIP exports and the audit log query.

The export has every assignment of the meeting (removed ones too, marked), the person,
the disclosure version its state is computed from, each relationship with this
assignment's determination (relevant or not, rationale, reviewer, when) and its
mitigations (method, notes, who, when), the owner/employee decision and the derived
state. Determinations recorded against earlier disclosure versions are kept and listed
as well: nothing is left out, nothing is deleted.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from ..documents import spreadsheet
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    AuditEvent,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    Relationship,
    Room,
    User,
    utcnow,
)
from ..permissions import MANAGE_MEETING, is_admin, is_auditor, meetings_where
from ..state import states_for

CSV_COLUMNS = [
    "meeting", "activity_code", "activity_title", "activity_starts_local", "room",
    "person_name", "person_degrees", "person_email", "role", "assigned_at", "removed_at",
    "state", "state_reasons",
    "owner_exception", "owner_decision_note", "owner_decided_by", "owner_decided_at",
    "disclosure_version", "disclosure_submitted_at", "disclosure_valid_until",
    "has_relationships", "attested_complete", "attestation_name", "attested_at",
    "discusses_off_label", "off_label_detail",
    "company", "company_is_ineligible", "nature", "relationship_started_on",
    "relationship_ended_on", "relationship_detail",
    "determination", "determination_rationale", "reviewer", "decided_at",
    "determination_carried_from_id", "mitigations",
]


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _person(user: User | None) -> str | None:
    return f"{user.full_name} <{user.email}>" if user else None


def _determination(d: Determination | None) -> dict | None:
    if d is None:
        return None
    return {
        "id": d.id,
        "is_relevant": d.is_relevant,
        "rationale": d.rationale,
        "reviewer": _person(d.reviewer),
        "decided_at": _iso(d.decided_at),
        "carried_from_id": d.carried_from_id,
        "mitigations": [
            {
                "id": m.id,
                "method": m.method.value,
                "method_label": m.method.label,
                "notes": m.notes,
                "recorded_by": _person(m.recorded_by),
                "recorded_at": _iso(m.recorded_at),
            }
            for m in d.mitigations
        ],
    }


def _relationship(r: Relationship, d: Determination | None, version: int) -> dict:
    return {
        "id": r.id,
        "disclosure_version": version,
        "company": r.company.name,
        "company_is_ineligible": r.company.is_ineligible,
        "nature": r.nature.value,
        "nature_label": r.nature.label,
        "started_on": _iso(r.started_on),
        "ended_on": _iso(r.ended_on),
        "detail": r.detail,
        "determination": _determination(d),
    }


def meeting_records(meeting: Meeting, today: date | None = None) -> dict:
    """Everything the accreditor asks about this meeting, as plain JSON-able data.

    A fixed number of queries whatever the meeting's size.
    """
    today = today or date.today()
    assignments = list(db.session.scalars(
        sa.select(Assignment)
        .join(Activity, Assignment.activity_id == Activity.id)
        .where(Activity.meeting_id == meeting.id)
        .options(
            joinedload(Assignment.activity).joinedload(Activity.room),
            joinedload(Assignment.user),
            joinedload(Assignment.owner_decided_by),
        )
        .order_by(Activity.starts_at, Activity.code, Assignment.id)
    ).unique())
    statuses = states_for(assignments, today)
    determinations: dict[int, list[Determination]] = {}
    if assignments:
        for d in db.session.scalars(
            sa.select(Determination)
            .where(Determination.assignment_id.in_([a.id for a in assignments]))
            .options(
                joinedload(Determination.reviewer),
                joinedload(Determination.relationship).joinedload(Relationship.company),
                joinedload(Determination.relationship).joinedload(Relationship.disclosure),
                selectinload(Determination.mitigations).joinedload(Mitigation.recorded_by),
            )
            .order_by(Determination.id)
        ).unique():
            determinations.setdefault(d.assignment_id, []).append(d)

    items = []
    for a in assignments:
        status = statuses[a.id]
        disclosure: Disclosure | None = status.disclosure
        mine = determinations.get(a.id, [])
        by_relationship = {d.relationship_id: d for d in mine}
        relationships = []
        used: set[int] = set()
        if disclosure is not None:
            for r in disclosure.relationships:
                d = by_relationship.get(r.id)
                if d is not None:
                    used.add(d.id)
                relationships.append(_relationship(r, d, disclosure.version))
        earlier = [
            _relationship(d.relationship, d, d.relationship.disclosure.version)
            for d in mine if d.id not in used
        ]
        activity = a.activity
        items.append({
            "assignment_id": a.id,
            "activity": {
                "code": activity.code,
                "title": activity.title,
                "starts_at": _iso(activity.starts_at),
                "starts_local": meeting.local(activity.starts_at).strftime("%Y-%m-%d %H:%M"),
                "ends_at": _iso(activity.ends_at),
                "room": activity.room.name if activity.room else None,
                "credit_hours": str(activity.credit_hours),
                "commercial_supporters": activity.commercial_supporters or [],
            },
            "person": {
                "id": a.user.id,
                "name": a.user.full_name,
                "degrees": a.user.degrees,
                "email": a.user.email,
                "institution": a.user.institution,
            },
            "role": a.role.value,
            "assigned_at": _iso(a.created_at),
            "removed_at": _iso(a.removed_at),
            "state": status.state.value,
            "state_label": status.state.label,
            "state_reasons": status.reasons,
            "owner_decision": None if a.owner_exception is None else {
                "exception": a.owner_exception.value,
                "exception_label": a.owner_exception.label,
                "note": a.owner_decision_note,
                "decided_by": _person(a.owner_decided_by),
                "decided_at": _iso(a.owner_decided_at),
            },
            "disclosure": None if disclosure is None else {
                "id": disclosure.id,
                "version": disclosure.version,
                "submitted_at": _iso(disclosure.submitted_at),
                "valid_until": _iso(disclosure.valid_until),
                "has_relationships": disclosure.has_relationships,
                "attested_complete": disclosure.attested_complete,
                "attestation_name": disclosure.attestation_name,
                "attested_at": _iso(disclosure.attested_at),
                "discusses_off_label": disclosure.discusses_off_label,
                "off_label_detail": disclosure.off_label_detail,
            },
            "relationships": relationships,
            "determinations_on_earlier_versions": earlier,
        })
    return {
        "meeting": {
            "name": meeting.name,
            "slug": meeting.slug,
            "location": meeting.location,
            "starts_on": _iso(meeting.starts_on),
            "ends_on": _iso(meeting.ends_on),
            "timezone": meeting.timezone,
            "disclosure_deadline": _iso(meeting.disclosure_deadline),
        },
        "generated_at": _iso(utcnow()),
        "standard": "ACCME Standards for Integrity and Independence, Standard 3",
        "assignments": items,
    }


def _mitigation_text(d: dict | None) -> str:
    if not d:
        return ""
    return " | ".join(
        f"{m['method_label']} — by {m['recorded_by']} at {m['recorded_at']}"
        + (f": {m['notes']}" if m["notes"] else "")
        for m in d["mitigations"]
    )


def records_csv(records: dict) -> str:
    """One row per assignment and relationship (one row for an assignment without any)."""
    return spreadsheet.csv_text(CSV_COLUMNS, _csv_rows(records))


def _csv_rows(records: dict) -> Iterator[list]:
    for item in records["assignments"]:
        d = item["disclosure"] or {}
        owner = item["owner_decision"] or {}
        base = {
            "meeting": records["meeting"]["name"],
            "activity_code": item["activity"]["code"],
            "activity_title": item["activity"]["title"],
            "activity_starts_local": item["activity"]["starts_local"],
            "room": item["activity"]["room"],
            "person_name": item["person"]["name"],
            "person_degrees": item["person"]["degrees"],
            "person_email": item["person"]["email"],
            "role": item["role"],
            "assigned_at": item["assigned_at"],
            "removed_at": item["removed_at"],
            "state": item["state_label"],
            "state_reasons": "; ".join(item["state_reasons"]),
            "owner_exception": owner.get("exception_label"),
            "owner_decision_note": owner.get("note"),
            "owner_decided_by": owner.get("decided_by"),
            "owner_decided_at": owner.get("decided_at"),
            "disclosure_version": d.get("version"),
            "disclosure_submitted_at": d.get("submitted_at"),
            "disclosure_valid_until": d.get("valid_until"),
            "has_relationships": d.get("has_relationships"),
            "attested_complete": d.get("attested_complete"),
            "attestation_name": d.get("attestation_name"),
            "attested_at": d.get("attested_at"),
            "discusses_off_label": d.get("discusses_off_label"),
            "off_label_detail": d.get("off_label_detail"),
        }
        rels = item["relationships"] + item["determinations_on_earlier_versions"]
        if not rels:
            yield [base.get(c) for c in CSV_COLUMNS]
            continue
        for r in rels:
            det = r["determination"]
            row = {
                **base,
                "disclosure_version": r["disclosure_version"],
                "company": r["company"],
                "company_is_ineligible": r["company_is_ineligible"],
                "nature": r["nature_label"],
                "relationship_started_on": r["started_on"],
                "relationship_ended_on": r["ended_on"],
                "relationship_detail": r["detail"],
                "determination": (
                    "" if det is None else ("relevant" if det["is_relevant"] else "not relevant")
                ),
                "determination_rationale": det and det["rationale"],
                "reviewer": det and det["reviewer"],
                "decided_at": det and det["decided_at"],
                "determination_carried_from_id": det and det["carried_from_id"],
                "mitigations": _mitigation_text(det),
            }
            yield [row.get(c) for c in CSV_COLUMNS]


def records_json(records: dict) -> str:
    return json.dumps(records, indent=2, ensure_ascii=False)


def _zip_name(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")
    return cleaned[:80] or "room"


def records_zip(meeting: Meeting, records: dict) -> bytes:
    """CSV, JSON, every room sheet PDF and the booklet PDF, in one ZIP."""
    from ..documents.booklet import booklet_pdf
    from ..documents.cache import cached_pdf  # the same files learners download
    from ..documents.data import booklet, load_room, meeting_marker, room_sheet
    from ..documents.sheet import room_sheet_pdf

    cache_dir = current_app.config["DOCUMENT_CACHE_DIR"]

    now = utcnow()
    period = int(current_app.config.get("DOCUMENT_CACHE_SECONDS", 600))
    buffer = io.BytesIO()
    prefix = f"{meeting.slug}-records"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{prefix}/assignments.csv", records_csv(records))
        archive.writestr(f"{prefix}/assignments.json", records_json(records))
        marker = meeting_marker(meeting, now, period)
        archive.writestr(f"{prefix}/booklet.pdf", cached_pdf(
            cache_dir, "booklets", str(meeting.id), marker.etag, "letter",
            lambda: booklet_pdf(booklet(meeting, now, as_of=marker.last_modified))))
        rooms = db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id)
                                   .order_by(Room.name)).all()
        for room in rooms:
            _, room_marker = load_room(room.public_token, now, period)
            content = cached_pdf(
                cache_dir, "rooms", str(room.id), room_marker.etag, "letter",
                lambda room=room, m=room_marker: room_sheet_pdf(room_sheet(room, now, as_of=m.last_modified)))
            archive.writestr(f"{prefix}/rooms/{room.id}-{_zip_name(room.name)}.pdf", content)
        archive.writestr(f"{prefix}/README.txt", (
            f"Records of {meeting.name} ({meeting.slug}), generated {now.isoformat()} UTC.\n"
            "assignments.csv / assignments.json: every assignment with the disclosure used, each\n"
            "relationship, its determination (reviewer, when, rationale) and mitigations (who, when).\n"
            "booklet.pdf and rooms/*.pdf: what learners are shown, as of the time above.\n"
        ))
    return buffer.getvalue()


# --- The audit log ---------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


@dataclass
class AuditFilters:
    person: str | None = None
    actor: str | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _people_matching(text: str) -> sa.Select:
    pattern = f"%{text.strip().lower()}%"
    return sa.select(User.id).where(
        sa.or_(User.email.like(pattern), sa.func.lower(User.full_name).like(pattern))
    )


def audit_query(filters: AuditFilters, reader: User | None = None) -> sa.Select:
    """Newest first; every filter optional. Dates are UTC days, both ends included.

    ``reader`` sees what their roles allow: site administrators and auditors every event;
    meeting staff the events of their meetings, and those about people who hold a role
    in one of them (a disclosure is the person's, not one meeting's).
    """
    stmt = sa.select(AuditEvent)
    if reader is not None and not (is_admin(reader) or is_auditor(reader)):
        mine = meetings_where(reader, MANAGE_MEETING)
        people = (sa.select(Assignment.user_id)
                  .join(Activity, Activity.id == Assignment.activity_id)
                  .where(Activity.meeting_id.in_(mine)))
        stmt = stmt.where(sa.or_(AuditEvent.meeting_id.in_(mine),
                                 sa.and_(AuditEvent.meeting_id.is_(None),
                                         AuditEvent.subject_user_id.in_(people))))
    if filters.person:
        stmt = stmt.where(AuditEvent.subject_user_id.in_(_people_matching(filters.person)))
    if filters.actor:
        stmt = stmt.where(AuditEvent.actor_id.in_(_people_matching(filters.actor)))
    if filters.action:
        stmt = stmt.where(AuditEvent.action.like(f"%{filters.action.strip().lower()}%"))
    if filters.date_from:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(filters.date_from, time(), tzinfo=UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), tzinfo=UTC)
        stmt = stmt.where(AuditEvent.at < end)
    return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
