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
from sqlalchemy.orm import joinedload, selectinload

from ..documents import spreadsheet
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    AuditEvent,
    CommercialSupport,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    OwnerDecision,
    PublicationStep,
    Relationship,
    Room,
    SheetPdf,
    SheetVersion,
    Statement,
    User,
    utcnow,
)
from ..permissions import MANAGE_MEETING, is_admin, is_auditor, meetings_where
from ..state import judgements

CSV_COLUMNS = [
    "meeting", "activity_code", "activity_title", "activity_starts_local", "room",
    "person_name", "person_degrees", "person_email", "role", "assigned_at", "removed_at",
    "state_at_start", "state_reasons", "late", "latest_state",
    "statement_at_start", "statement_version", "statement_valid_from", "statement_sha256",
    "owner_decisions",
    "disclosure_version", "disclosure_submitted_at", "disclosure_valid_until",
    "has_relationships", "attested_complete", "attestation_name", "attested_at",
    "discusses_off_label", "off_label_detail",
    "company", "company_is_ineligible", "nature", "relationship_started_on",
    "relationship_ended_on", "relationship_detail",
    "decision_in_force_at_start", "decision_rationale", "reviewer", "decided_at",
    "decision_late", "later_decisions", "determination_carried_from_id", "mitigations",
]


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _person(user: User | None) -> str | None:
    return f"{user.full_name} <{user.email}>" if user else None


def _determination(d: Determination, start: datetime) -> dict:
    return {
        "id": d.id,
        "is_relevant": d.is_relevant,
        "rationale": d.rationale,
        "reviewer": _person(d.reviewer),
        "decided_at": _iso(d.decided_at),
        "late": d.decided_at > start,
        "supersedes_id": d.supersedes_id,
        "carried_from_id": d.carried_from_id,
        "mitigations": [
            {
                "id": m.id,
                "method": m.method.value,
                "method_label": m.method.label,
                "notes": m.notes,
                "recorded_by": _person(m.recorded_by),
                "recorded_at": _iso(m.recorded_at),
                "in_place_on": _iso(m.in_place_on),
                # Recorded after the start, or put in place after its day: kept, flagged.
                "late": m.recorded_at > start
                or (m.in_place_on is not None and m.in_place_on > start.date()),
            }
            for m in d.mitigations
        ],
    }


def _relationship(r: Relationship, decisions: list[Determination], version: int,
                  start: datetime) -> dict:
    """One relationship of a role: every decision about it (oldest first), and which one
    was in force when the role started."""
    decisions = sorted(decisions, key=lambda d: (d.decided_at, d.id))
    at_start = [d for d in decisions if d.decided_at <= start]
    return {
        "id": r.id,
        "disclosure_version": version,
        "company": r.company.name,
        "company_is_ineligible": r.company.is_ineligible,
        "nature": r.nature.value,
        "nature_label": r.nature.staff_label,
        "started_on": _iso(r.started_on),
        "ended_on": _iso(r.ended_on),
        "detail": r.detail,
        "determination": _determination(at_start[-1], start) if at_start else None,
        "decisions": [_determination(d, start) for d in decisions],
    }


def meeting_records(meeting: Meeting) -> dict:
    """Everything the accreditor asks about this meeting, as plain JSON-able data.

    Per role: its state as judged at its start (stored), the statement learners read at
    its start (words and SHA-256), whether anything was recorded after the start (late),
    and its latest state (with those late records counted); the disclosure in force at
    the start, each relationship with every decision and mitigation about it, and
    decisions about other disclosure versions. It reads the record only: run on any
    later day, it reports the same (but for ``generated_at``). A fixed number of queries
    whatever the meeting's size.
    """
    assignments = list(db.session.scalars(
        sa.select(Assignment)
        .outerjoin(Activity, Assignment.activity_id == Activity.id)
        .where(Assignment.meeting_id == meeting.id)
        .options(
            joinedload(Assignment.activity).joinedload(Activity.room),
            joinedload(Assignment.activity).selectinload(Activity.supports)
            .joinedload(CommercialSupport.company),
            joinedload(Assignment.user),
            joinedload(Assignment.state_disclosure).selectinload(Disclosure.relationships)
            .joinedload(Relationship.company),
        )
        # Roles held for the whole meeting (committee, reviewers) first: they start with it.
        .order_by(Activity.starts_at.is_not(None), Activity.starts_at, Activity.code, Assignment.id)
    ).unique())
    ids = [a.id for a in assignments]
    latest = judgements(ids, utcnow()) if ids else {}
    determinations: dict[int, list[Determination]] = {}
    statements: dict[int, list[Statement]] = {}
    owner_rows: dict[int, list[OwnerDecision]] = {}
    if assignments:
        for d in db.session.scalars(
            sa.select(Determination)
            .where(Determination.assignment_id.in_(ids))
            .options(
                joinedload(Determination.reviewer),
                joinedload(Determination.relationship).joinedload(Relationship.company),
                joinedload(Determination.relationship).joinedload(Relationship.disclosure),
                selectinload(Determination.mitigations).joinedload(Mitigation.recorded_by),
            )
            .order_by(Determination.id)
        ).unique():
            determinations.setdefault(d.assignment_id, []).append(d)
        for statement in db.session.scalars(
            sa.select(Statement).where(Statement.assignment_id.in_(ids)).order_by(Statement.version)
        ):
            statements.setdefault(statement.assignment_id, []).append(statement)
        for decision in db.session.scalars(
            sa.select(OwnerDecision)
            .where(OwnerDecision.user_id.in_({a.user_id for a in assignments}))
            .options(joinedload(OwnerDecision.company), joinedload(OwnerDecision.decided_by))
            .order_by(OwnerDecision.decided_at, OwnerDecision.id)
        ):
            owner_rows.setdefault(decision.user_id, []).append(decision)

    items = []
    for a in assignments:
        activity = a.activity
        # When the role is assumed (its activity's start, or the meeting's for a meeting-level
        # role), where the meeting is: its date is the start day.
        start = a.starts_at.astimezone(meeting.tz)
        disclosure: Disclosure | None = a.state_disclosure
        mine = determinations.get(a.id, [])
        by_relationship: dict[int, list[Determination]] = {}
        for d in mine:
            by_relationship.setdefault(d.relationship_id, []).append(d)
        relationships = []
        if disclosure is not None:
            for r in disclosure.relationships:
                relationships.append(_relationship(r, by_relationship.pop(r.id, []),
                                                   disclosure.version, start))
        other_versions = [
            _relationship(rows[0].relationship, rows, rows[0].relationship.disclosure.version, start)
            for rows in by_relationship.values()
        ]
        shown = [st for st in statements.get(a.id, []) if st.valid_from <= start]
        at_start = shown[-1] if shown else None
        current = statements.get(a.id, [])[-1] if statements.get(a.id) else None
        companies = {r.company_id for r in (disclosure.relationships if disclosure else [])}
        items.append({
            "assignment_id": a.id,
            "meeting_level": activity is None,
            "activity": {
                "code": activity.code,
                "title": activity.title,
                "starts_at": _iso(activity.starts_at),
                "starts_local": meeting.local(activity.starts_at).strftime("%Y-%m-%d %H:%M"),
                "ends_at": _iso(activity.ends_at),
                "room": activity.room.name if activity.room else None,
                "credit_hours": str(activity.credit_hours),
                "is_accredited": activity.is_accredited,
                "commercial_support": [
                    {"company": s.company.name, "kind": s.kind.value,
                     "in_kind": s.in_kind_detail} for s in activity.supports],
            } if activity is not None else {
                # A role held for the whole meeting (planning committee, reviewers …).
                "code": "", "title": f"Whole meeting ({a.role.label})",
                "starts_at": _iso(start),
                "starts_local": meeting.local(start).strftime("%Y-%m-%d %H:%M"),
                "ends_at": None, "room": None, "credit_hours": None,
                "is_accredited": True, "commercial_support": [],
            },
            "person": {
                "id": a.user.id,
                "name": a.user.full_name,
                "degrees": a.user.degrees,
                "email": a.user.email,
                "institution": a.user.institution,
            },
            "role": a.role.value,
            "discusses_off_label": a.discusses_off_label,
            "off_label_detail": a.off_label_detail,
            "assigned_at": _iso(a.created_at),
            "removed_at": _iso(a.removed_at),
            "state_at_start": a.state.value,
            "state_at_start_label": a.state.label,
            "state_reasons": list(a.state_reasons or []),
            "late": bool(a.is_late),
            "latest_state": latest[a.id].state.value,
            "latest_state_label": latest[a.id].state.label,
            "statement_at_start": None if at_start is None else {
                "version": at_start.version, "kind": at_start.kind.value,
                "words": at_start.words, "sha256": at_start.sha256,
                "valid_from": _iso(at_start.valid_from),
            },
            "statement_now": None if current is None else {
                "version": current.version, "sha256": current.sha256,
                "valid_from": _iso(current.valid_from),
            },
            "owner_decisions": [
                {"company": d.company.name, "exception": d.exception.value,
                 "exception_label": d.exception.label, "note": d.note,
                 "decided_by": _person(d.decided_by), "decided_at": _iso(d.decided_at),
                 "late": d.decided_at > start}
                for d in owner_rows.get(a.user_id, []) if d.company_id in companies
            ],
            "disclosure": None if disclosure is None else {
                "id": disclosure.id,
                "version": disclosure.version,
                "submitted_at": _iso(disclosure.submitted_at),
                "valid_until": _iso(disclosure.valid_until),
                "has_relationships": disclosure.has_relationships,
                "attested_complete": disclosure.attested_complete,
                "attestation_name": disclosure.attestation_name,
                "attested_at": _iso(disclosure.attested_at),
            },
            "relationships": relationships,
            "determinations_on_other_versions": other_versions,
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
        + (f", in place on {m['in_place_on']}" if m.get("in_place_on") else "")
        + (" (late)" if m["late"] else "") + (f": {m['notes']}" if m["notes"] else "")
        for m in d["mitigations"]
    )


def records_csv(records: dict) -> str:
    """One row per assignment and relationship (one row for an assignment without any)."""
    return spreadsheet.csv_text(CSV_COLUMNS, _csv_rows(records))


def _csv_rows(records: dict) -> Iterator[list]:
    for item in records["assignments"]:
        d = item["disclosure"] or {}
        statement = item["statement_at_start"] or {}
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
            "state_at_start": item["state_at_start_label"],
            "state_reasons": "; ".join(item["state_reasons"]),
            "late": item["late"],
            "latest_state": item["latest_state_label"],
            "statement_at_start": statement.get("words"),
            "statement_version": statement.get("version"),
            "statement_valid_from": statement.get("valid_from"),
            "statement_sha256": statement.get("sha256"),
            "owner_decisions": " | ".join(
                f"{o['company']}: {o['exception_label']} — by {o['decided_by']} at "
                f"{o['decided_at']}{' (late)' if o['late'] else ''}: {o['note']}"
                for o in item["owner_decisions"]),
            "disclosure_version": d.get("version"),
            "disclosure_submitted_at": d.get("submitted_at"),
            "disclosure_valid_until": d.get("valid_until"),
            "has_relationships": d.get("has_relationships"),
            "attested_complete": d.get("attested_complete"),
            "attestation_name": d.get("attestation_name"),
            "attested_at": d.get("attested_at"),
            "discusses_off_label": item["discusses_off_label"],
            "off_label_detail": item["off_label_detail"],
        }
        rels = item["relationships"] + item["determinations_on_other_versions"]
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
                "decision_in_force_at_start": (
                    "" if det is None else ("relevant" if det["is_relevant"] else "not relevant")
                ),
                "decision_rationale": det and det["rationale"],
                "reviewer": det and det["reviewer"],
                "decided_at": det and det["decided_at"],
                "decision_late": det and det["late"],
                "later_decisions": " | ".join(
                    f"{'relevant' if x['is_relevant'] else 'not relevant'} — by {x['reviewer']} "
                    f"at {x['decided_at']}{' (late)' if x['late'] else ''}: {x['rationale']}"
                    for x in r["decisions"] if det is None or x["id"] != det["id"]
                    and x["decided_at"] > det["decided_at"]),
                "determination_carried_from_id": det and det["carried_from_id"],
                "mitigations": _mitigation_text(det),
            }
            yield [row.get(c) for c in CSV_COLUMNS]


def records_json(records: dict) -> str:
    return json.dumps(records, indent=2, ensure_ascii=False)


def _zip_name(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")
    return cleaned[:80] or "room"


def public_periods(meeting: Meeting) -> list[tuple[SheetVersion, datetime, datetime | None]]:
    """Every room sheet version of the meeting with when it was public: (version, from,
    until or None for the current one), room by room, oldest first."""
    versions = db.session.scalars(
        sa.select(SheetVersion).where(SheetVersion.meeting_id == meeting.id)
        .order_by(SheetVersion.room_id, SheetVersion.number)
    ).all()
    periods = []
    for index, version in enumerate(versions):
        following = versions[index + 1] if index + 1 < len(versions) else None
        until = following.valid_from if following and following.room_id == version.room_id else None
        periods.append((version, version.valid_from, until))
    return periods


def meeting_window(meeting: Meeting) -> tuple[datetime, datetime]:
    """The meeting's days, from the first midnight to the last, in its time zone (UTC)."""
    start = datetime.combine(meeting.starts_on, time.min, tzinfo=meeting.tz)
    end = datetime.combine(meeting.ends_on + timedelta(days=1), time.min, tzinfo=meeting.tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def records_zip(meeting: Meeting, records: dict) -> bytes:
    """CSV, JSON, every room sheet PDF version that was public during the meeting, the
    booklet PDFs kept from then and the current one, and a manifest of SHA-256s.

    Builds (and keeps, for every server and ``verify-sheet``) a version's PDF the first
    time it is needed; the caller commits.
    """
    from ..publication.operations import booklet_pdf, sheet_pdf

    now = utcnow()
    first, last = meeting_window(meeting)
    rooms = {r.id: r for r in db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id))}
    buffer = io.BytesIO()
    prefix = f"{meeting.slug}-records"
    manifest = [["file", "kind", "room", "version", "public_from", "public_until", "sha256"]]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{prefix}/assignments.csv", records_csv(records))
        archive.writestr(f"{prefix}/assignments.json", records_json(records))
        for version, public_from, public_until in public_periods(meeting):
            if public_from >= last or (public_until is not None and public_until <= first):
                continue  # not public during the meeting
            room = rooms[version.room_id]
            stored = sheet_pdf(version, "letter")
            name = f"rooms/{room.id}-{_zip_name(room.name)}-v{version.number}.pdf"
            archive.writestr(f"{prefix}/{name}", stored.content)
            manifest.append([name, "room sheet", room.name, version.number, _iso(public_from),
                             _iso(public_until), stored.sha256])
        from ..documents import data

        kept = db.session.scalars(
            sa.select(SheetPdf).where(SheetPdf.meeting_id == meeting.id,
                                      SheetPdf.sheet_version_id.is_(None),
                                      SheetPdf.size == "letter").order_by(SheetPdf.seq)).all()
        current = booklet_pdf(meeting, "letter", lambda: data.booklet(meeting))
        steps = dict(db.session.execute(
            sa.select(PublicationStep.seq, PublicationStep.at)
            .where(PublicationStep.meeting_id == meeting.id)).all())
        ordered_steps = sorted(steps)
        for stored in sorted({p.id: p for p in [*kept, current]}.values(), key=lambda p: p.seq):
            public_from = steps.get(stored.seq)
            later = [n for n in ordered_steps if n > stored.seq]
            public_until = steps[later[0]] if later else None
            if stored.id != current.id and public_from is not None and (
                    public_from >= last or (public_until is not None and public_until <= first)):
                continue
            name = f"booklet-v{stored.seq}.pdf"
            archive.writestr(f"{prefix}/{name}", stored.content)
            manifest.append([name, "booklet", "", stored.seq, _iso(public_from),
                             _iso(public_until), stored.sha256])
        archive.writestr(f"{prefix}/manifest.csv", spreadsheet.csv_text(manifest[0], manifest[1:]))
        archive.writestr(f"{prefix}/README.txt", (
            f"Records of {meeting.name} ({meeting.slug}), generated {now.isoformat()} UTC.\n"
            "assignments.csv / assignments.json: every role with its state as judged at its start,\n"
            "the statement learners read at its start (words and SHA-256), decisions recorded\n"
            "after the start (late), its latest state; the disclosure in force at the start, each\n"
            "relationship with every decision (reviewer, when, rationale) and mitigation.\n"
            "rooms/*.pdf: every version of each room's sheet that was public during the meeting;\n"
            "booklet-v*.pdf: the all-faculty booklets kept. manifest.csv: each file's SHA-256 and\n"
            "when it was public. `flask --app wsgi verify-sheet FILE.pdf` checks a printed sheet.\n"
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
                  .where(Assignment.meeting_id.in_(mine)))
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


# --------------------------------------------------------------------------- sheet history


@dataclass(frozen=True)
class SheetChange:
    """One published version of a room's sheet, and what changed from the one before it."""

    version: SheetVersion
    public_from: datetime
    public_until: datetime | None
    added: tuple[str, ...]  # people (name · activity code) now listed
    removed: tuple[str, ...]  # people no longer listed
    changed: tuple[str, ...]  # people whose statement reads differently
    companies_in: tuple[str, ...]  # companies printed now, not before
    companies_out: tuple[str, ...]  # companies printed before, not now
    other: bool  # times, titles, rooms or support changed (nothing about a person)


def _listed(content: dict) -> dict[tuple[str, str], dict]:
    return {(p["name"], a["code"]): p for a in content.get("activities", ()) for p in a["people"]}


def _label(key: tuple[str, str]) -> str:
    return f"{key[0]} · {key[1]}"


def _companies(content: dict) -> set[str]:
    return {company for a in content.get("activities", ()) for p in a["people"]
            for company, _nature in p["relationships"]}


def sheet_history(room: Room) -> list[SheetChange]:
    """Every version of ``room``'s sheet, newest first, with when it was public and what
    changed from the one before (people added or removed, statements changed, companies
    that appeared or left)."""
    versions = db.session.scalars(
        sa.select(SheetVersion).where(SheetVersion.room_id == room.id).order_by(SheetVersion.number)
    ).all()
    changes = []
    before: dict = {}
    for index, version in enumerate(versions):
        following = versions[index + 1] if index + 1 < len(versions) else None
        now_listed, then_listed = _listed(version.content), _listed(before)
        changed = tuple(_label(k) for k in sorted(now_listed.keys() & then_listed.keys())
                        if now_listed[k]["sha256"] != then_listed[k]["sha256"])
        added = tuple(_label(k) for k in sorted(now_listed.keys() - then_listed.keys()))
        removed = tuple(_label(k) for k in sorted(then_listed.keys() - now_listed.keys()))
        companies_now, companies_then = _companies(version.content), _companies(before)
        changes.append(SheetChange(
            version=version, public_from=version.valid_from,
            public_until=following.valid_from if following else None,
            added=added, removed=removed, changed=changed,
            companies_in=tuple(sorted(companies_now - companies_then)),
            companies_out=tuple(sorted(companies_then - companies_now)),
            other=not (added or removed or changed) and index > 0,
        ))
        before = version.content
    return list(reversed(changes))
