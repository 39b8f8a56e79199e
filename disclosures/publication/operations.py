"""The published record: each role's stored state, what the public reads about it, and the
versions of each room's sheet. Operations never commit.

``refresh`` is the one writer. Every operation that changes what a role's state or
statement depends on (a disclosure, a decision, a mitigation, an owner decision, a company
confirmed, merged or reclassified, a role added or removed, an activity moved or renamed,
a room renamed, a meeting's time zone) calls it for the roles and rooms it touched, in its
own transaction, after writing its audit event:

1. each role is judged again as of its start (its activity's, or the meeting's first day
   for a meeting-level role: ``state.judge``) and its state
   stored when it changed;
2. what the public should read about each current role (its statement: kind, companies
   and natures, off-label and commercial support lines, and the exact words printed) is
   appended as a new ``Statement`` version when the words changed, and never otherwise;
3. each room whose sheet changed (a statement, an activity, a name) gets a new
   ``SheetVersion``: its full content, the fingerprint of the statements it shows, and
   from when it is public;
4. each meeting with any of these gets the next publication step (``publication_seq``,
   ``PublicationStep``): ETags and caches are keyed by it.

Nothing is updated or deleted in the published record: statements and sheet versions are
appended. Rows written concurrently are serialised by locking the roles, rooms and meeting
(PostgreSQL ``SELECT … FOR UPDATE``, in that order and by id; SQLite serialises writers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import defer, joinedload

from .. import wording
from ..documents.text import family_sort_key
from ..enums import AssignmentRole, AssignmentState, StatementKind, SupportKind
from ..extensions import db
from ..models import (
    Activity,
    Assignment,
    CommercialSupport,
    Company,
    Meeting,
    PublicationStep,
    Room,
    SheetPdf,
    SheetVersion,
    Statement,
    User,
    utcnow,
)
from ..state import START, Judgement, judgements

# Moderators first, planners last; faculty in the order a programme lists them.
ROLE_ORDER = {role: index for index, role in enumerate([
    AssignmentRole.MODERATOR, AssignmentRole.SPEAKER, AssignmentRole.PANELIST,
    AssignmentRole.AUTHOR, AssignmentRole.OTHER, AssignmentRole.PLANNER,
    AssignmentRole.COURSE_DIRECTOR, AssignmentRole.PLANNING_COMMITTEE,
    AssignmentRole.COI_REVIEWER, AssignmentRole.CONTENT_REVIEWER, AssignmentRole.CONTENT_STAFF,
])}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical(data) -> str:
    """JSON with sorted keys and no spaces: the same bytes for the same data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def activity_support(activity_ids: Iterable[int]) -> dict[int, list[list]]:
    """Each activity's current commercial support as [company name, in-kind nature or None],
    in the order staff entered it (one query)."""
    ids = sorted({i for i in activity_ids if i is not None})  # None: a meeting-level role
    found: dict[int, list[list]] = {}
    if not ids:
        return found
    for activity_id, name, kind, detail in db.session.execute(
        sa.select(CommercialSupport.activity_id, Company.name, CommercialSupport.kind,
                  CommercialSupport.in_kind_detail)
        .join(Company, Company.id == CommercialSupport.company_id)
        .where(CommercialSupport.activity_id.in_(ids), CommercialSupport.removed_at.is_(None))
        .order_by(CommercialSupport.id)
    ):
        pair = [name, detail if kind is SupportKind.IN_KIND else None]
        if pair not in found.setdefault(activity_id, []):
            found[activity_id].append(pair)
    return found


def meeting_support(meeting_id: int) -> list[list]:
    """Commercial support of the whole meeting (no one activity), as ``activity_support``."""
    found: list[list] = []
    for name, kind, detail in db.session.execute(
        sa.select(Company.name, CommercialSupport.kind, CommercialSupport.in_kind_detail)
        .join(Company, Company.id == CommercialSupport.company_id)
        .where(CommercialSupport.meeting_id == meeting_id, CommercialSupport.activity_id.is_(None),
               CommercialSupport.removed_at.is_(None))
        .order_by(CommercialSupport.id)
    ):
        pair = [name, detail if kind is SupportKind.IN_KIND else None]
        if pair not in found:
            found.append(pair)
    return found


def provider(meeting: Meeting) -> dict:
    """The accredited provider printed on every document: {} until staff set one."""
    values = {"name": (meeting.provider_name or "").strip() or None,
              "joint": (meeting.joint_provider_name or "").strip() or None,
              "policy_url": (meeting.disclosure_policy_url or "").strip() or None}
    return {key: value for key, value in values.items() if value}


# --------------------------------------------------------------------------- statements


def statement_kind(judgement: Judgement) -> StatementKind:
    if judgement.state is AssignmentState.EXCLUDED:
        return StatementKind.EXCLUDED  # never presented to learners (left off every document)
    if judgement.state is AssignmentState.AWAITING_DISCLOSURE:
        return StatementKind.AWAITING
    if not judgement.is_cleared:
        return StatementKind.REVIEW
    return StatementKind.RELEVANT if judgement.relevant else StatementKind.NONE


def statement_data(assignment: Assignment, judgement: Judgement,
                   support: list[list] | None = None) -> dict:
    """What the public reads about one role, as plain data (the statement's ``data``).

    Only a cleared role shows companies (its relevant relationships: company and nature,
    never a rationale, a note or an irrelevant relationship) and the off-label use declared
    for this role (this presentation). An "Other" relationship reads as its own short
    description, not as "Other". ``support``: the activity's commercial support (read
    when not given). A role in a non-accredited activity (``"accredited": false``) shows
    no companies and no off-label line: nobody discloses for it, and it is never printed
    under the Standard 3 statement.
    """
    activity = assignment.activity  # None: a role held for the whole meeting
    if support is None:
        support = (activity_support([activity.id]).get(activity.id, [])
                   if activity is not None else [])
    kind = statement_kind(judgement)
    relationships: list[list[str]] = []
    for line in judgement.relevant:
        pair = [line.company, line.described_nature]
        if pair not in relationships:
            relationships.append(pair)
    off_label = None
    if judgement.is_cleared and assignment.discusses_off_label:
        off_label = (assignment.off_label_detail or "").strip() or wording.OFF_LABEL_DEFAULT
    data = {
        "name": assignment.user.display_name,
        "role": assignment.role.label,
        "kind": kind.value,
        "relationships": relationships,
        "off_label": off_label,
        "support": [list(pair) for pair in support],
    }
    if activity is not None and not activity.is_accredited:  # the key only when false
        data.update(accredited=False, relationships=[], off_label=None)
    return data


def statement_words(data: dict) -> str:
    """The statement word for word as printed on a sheet, one line per printed line."""
    kind = StatementKind(data["kind"])
    lines = [f"{data['name']} · {data['role']}"]
    if data.get("accredited") is False:
        return "\n".join([*lines, wording.NOT_ACCREDITED])
    lines += [f"{company} — {nature}" for company, nature in data["relationships"]]
    lines.append(wording.closing(kind, data["name"]))
    if data.get("off_label"):
        lines.append(wording.off_label_sentence(data["off_label"]))
    if data.get("support"):
        lines.append(str(wording.commercial_support([tuple(item) for item in data["support"]])))
    return "\n".join(lines)


def statement_hash(words: str, data: dict) -> str:
    return sha256(words + "\n" + canonical(data))


# --------------------------------------------------------------------------- sheets


def _room_content(room: Room, meeting: Meeting) -> dict:
    """Everything a room's sheet shows, as plain data (a ``SheetVersion``'s ``content``)."""
    activities = db.session.execute(
        sa.select(Activity.id, Activity.code, Activity.title, Activity.starts_at,
                  Activity.ends_at, Activity.is_accredited)
        .where(Activity.room_id == room.id)
        .order_by(Activity.starts_at, Activity.id)
    ).all()
    support = activity_support(a.id for a in activities)
    people: dict[int, list] = {}
    if activities:
        for row in db.session.execute(
            sa.select(Assignment.activity_id, Assignment.role, User.full_name, Statement.id,
                      Statement.sha256, Statement.data, Assignment.state)
            .join(User, User.id == Assignment.user_id)
            .join(Statement, Statement.id == Assignment.statement_id)
            .where(Assignment.activity_id.in_([a.id for a in activities]),
                   Assignment.removed_at.is_(None))
        ):
            people.setdefault(row.activity_id, []).append(row)
    content_activities = []
    for activity in activities:
        everyone = sorted(people.get(activity.id, []),
                          key=lambda r: (ROLE_ORDER.get(r.role, 9), family_sort_key(r.full_name)))
        # An excluded owner or employee is left off the sheet (staff replace them), never
        # shown as pending; the activity is not complete until they are replaced.
        rows = [r for r in everyone if r.state is not AssignmentState.EXCLUDED]
        pending = [r.data["name"] for r in rows if r.state is not AssignmentState.CLEARED]
        item = {
            "code": activity.code,
            "title": activity.title,
            "starts_at": meeting.local(activity.starts_at).isoformat(),
            "ends_at": meeting.local(activity.ends_at).isoformat(),
            "support": support.get(activity.id, []),
            "complete": bool(rows) and not pending and len(rows) == len(everyone),
            "pending": pending,
            "people": [{**r.data, "statement_id": r.id, "sha256": r.sha256} for r in rows],
        }
        if not activity.is_accredited:  # listed apart: no Standard 3 statement, nobody pending
            item.update(accredited=False, complete=False, pending=[])
        content_activities.append(item)
    content = {
        "meeting": meeting.name,
        "location": meeting.location,
        "timezone": meeting.timezone,
        "room": room.name,
        "activities": content_activities,
    }
    # Only when set, so a meeting without them keeps the versions it had.
    if provided := provider(meeting):
        content["provider"] = provided
    if meeting_wide := meeting_support(meeting.id):
        content["meeting_support"] = meeting_wide
    return content


def fingerprint(content: dict) -> str:
    """SHA-256 of the statements a sheet shows, in the order shown."""
    shas = [p["sha256"] for a in content.get("activities", ()) for p in a["people"]]
    return sha256("\n".join(shas))


# --------------------------------------------------------------------------- refresh


@dataclass
class Published:
    """What one ``refresh`` wrote."""

    states_changed: list[int] = field(default_factory=list)
    statements: int = 0
    sheet_versions: int = 0
    steps: dict[int, int] = field(default_factory=dict)  # meeting id → its new seq


def _lock(model, ids: Iterable[int]) -> None:
    """PostgreSQL: lock these rows until the commit (SQLite serialises writers anyway).

    FOR NO KEY UPDATE, not FOR UPDATE: the operation has usually inserted a row pointing at
    them already (a decision at its assignment, an audit event at its meeting), which holds
    a KEY SHARE lock; two such transactions each waiting on the other's KEY SHARE for a
    FOR UPDATE deadlocked under the soak. NO KEY UPDATE still serialises two refreshes."""
    ids = sorted(set(ids))
    if ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(model.id).where(model.id.in_(ids)).order_by(model.id)
                           .with_for_update(key_share=True))


def refresh(assignment_ids: Iterable[int] = (), *, rooms: Iterable[int] = (),
            meetings: Iterable[int] = (), bump: Iterable[int] = ()) -> Published:
    """Judge the roles again, store their states, append the statements and sheet
    versions that changed, and take each touched meeting's next publication step.

    ``assignment_ids``: the roles whose inputs changed; ``rooms``: rooms whose sheets may
    have changed besides theirs (a room renamed, an activity moved out); ``meetings``:
    every role and room of these meetings (a time zone changed, an import); ``bump``:
    meetings whose public pages changed although no statement or sheet did (a meeting
    renamed). Side effects: updates ``Assignment.state``, ``state_reasons``,
    ``state_changed_at``, ``state_disclosure_id``, ``is_late``, ``statement_id``;
    appends ``Statement``, ``SheetVersion`` and ``PublicationStep`` rows; increments
    ``Meeting.publication_seq``. Flushes; never commits.
    """
    db.session.flush()
    ids = set(assignment_ids)
    room_ids = set(rooms)
    meeting_ids = set(meetings)
    if meeting_ids:
        ids |= set(db.session.scalars(
            sa.select(Assignment.id).where(Assignment.meeting_id.in_(meeting_ids))))
        room_ids |= set(db.session.scalars(
            sa.select(Room.id).where(Room.meeting_id.in_(meeting_ids))))
    result = Published()
    touched_meetings: set[int] = set()
    to_bump = set(bump)

    _lock(Assignment, ids)
    roles = db.session.scalars(
        sa.select(Assignment).where(Assignment.id.in_(sorted(ids)))
        .options(joinedload(Assignment.user), joinedload(Assignment.activity),
                 joinedload(Assignment.statement).load_only(Statement.id, Statement.sha256,
                                                            Statement.version))
        .order_by(Assignment.id)
        .execution_options(populate_existing=True)
    ).unique().all() if ids else []
    judged = judgements(ids, START)
    support = activity_support(a.activity_id for a in roles)
    now = utcnow()
    for assignment in roles:
        judgement = judged[assignment.id]
        if assignment.activity is not None and assignment.activity.room_id:
            room_ids.add(assignment.activity.room_id)  # meeting-level roles are in no room
        touched_meetings.add(assignment.meeting_id)
        disclosure_id = judgement.disclosure.id if judgement.disclosure else None
        if (assignment.state is not judgement.state
                or list(assignment.state_reasons or []) != list(judgement.reasons)
                or assignment.state_disclosure_id != disclosure_id
                or assignment.is_late != judgement.late):
            if assignment.state is not judgement.state:
                assignment.state_changed_at = now
                result.states_changed.append(assignment.id)
            assignment.state = judgement.state
            assignment.state_reasons = list(judgement.reasons)
            assignment.state_disclosure_id = disclosure_id
            assignment.is_late = judgement.late
        if assignment.removed_at is not None:
            continue  # off the sheets; its last statement stays in the record
        data = statement_data(assignment, judgement, support.get(assignment.activity_id, []))
        words = statement_words(data)
        digest = statement_hash(words, data)
        current = assignment.statement
        if current is not None and current.sha256 == digest:
            continue
        statement = Statement(
            assignment_id=assignment.id, meeting_id=assignment.meeting_id,
            version=(current.version + 1) if current else 1, kind=StatementKind(data["kind"]),
            words=words, data=data, sha256=digest, valid_from=now,
            supersedes_id=current.id if current else None,
        )
        db.session.add(statement)
        db.session.flush()
        assignment.statement_id = statement.id
        assignment.statement = statement
        result.statements += 1
        to_bump.add(assignment.meeting_id)
    db.session.flush()

    # Rooms whose sheets changed: new versions, numbered per room.
    room_ids.discard(None)
    _lock(Room, room_ids)
    room_rows = db.session.scalars(
        sa.select(Room).where(Room.id.in_(sorted(room_ids))).order_by(Room.id)
        .options(joinedload(Room.meeting))
    ).all() if room_ids else []
    latest = _latest_versions([r.id for r in room_rows], with_content=False)
    new_versions = []
    for room in room_rows:
        content = _room_content(room, room.meeting)
        digest = sha256(canonical(content))
        previous = latest.get(room.id)
        if previous is not None and previous.content_sha256 == digest:
            continue
        new_versions.append((room, content, digest, previous))
        to_bump.add(room.meeting_id)

    steps = _step(to_bump, now)
    result.steps = steps
    for room, content, digest, previous in new_versions:
        db.session.add(SheetVersion(
            meeting_id=room.meeting_id, room_id=room.id,
            number=(previous.number + 1) if previous else 1, seq=steps[room.meeting_id],
            content=content, content_sha256=digest, fingerprint=fingerprint(content),
            valid_from=now,
        ))
        result.sheet_versions += 1
    db.session.flush()
    return result


def _latest_versions(room_ids: list[int], *, with_content: bool = True) -> dict[int, SheetVersion]:
    """Each room's newest sheet version (``with_content=False``: its number and hashes only,
    which is all ``refresh`` compares)."""
    if not room_ids:
        return {}
    newest = (sa.select(SheetVersion.room_id, sa.func.max(SheetVersion.number).label("number"))
              .where(SheetVersion.room_id.in_(room_ids)).group_by(SheetVersion.room_id).subquery())
    stmt = sa.select(SheetVersion).join(newest, sa.and_(SheetVersion.room_id == newest.c.room_id,
                                                        SheetVersion.number == newest.c.number))
    if not with_content:
        stmt = stmt.options(defer(SheetVersion.content))
    return {v.room_id: v for v in db.session.scalars(stmt)}


def _step(meeting_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Each meeting's next publication step (locked, incremented, recorded)."""
    ids = sorted(set(meeting_ids))
    _lock(Meeting, ids)
    steps = {}
    for meeting in db.session.scalars(sa.select(Meeting).where(Meeting.id.in_(ids))
                                      .execution_options(populate_existing=True)):
        meeting.publication_seq = (meeting.publication_seq or 0) + 1
        db.session.add(PublicationStep(meeting_id=meeting.id, seq=meeting.publication_seq, at=now))
        steps[meeting.id] = meeting.publication_seq
    return steps


def latest_sheet(room: Room) -> SheetVersion | None:
    return _latest_versions([room.id]).get(room.id)


def sheet_version(room: Room, *, number: int | None = None, at: datetime | None = None
                  ) -> SheetVersion | None:
    """Version ``number`` of the room's sheet, or the one public at ``at`` (aware)."""
    stmt = sa.select(SheetVersion).where(SheetVersion.room_id == room.id)
    if number is not None:
        return db.session.scalar(stmt.where(SheetVersion.number == number))
    return db.session.scalar(stmt.where(SheetVersion.valid_from <= at)
                             .order_by(SheetVersion.number.desc()).limit(1))


# --------------------------------------------------------------------------- PDFs, kept


def _store_pdf(find, build, **fields) -> SheetPdf:
    """The stored PDF ``find()`` returns, or ``build()``'s bytes stored now. Two servers
    building the same one at once: the second's insert fails the unique index and it
    serves the first's bytes, so every server serves the same bytes for a version."""
    stored = find()
    if stored is not None:
        return stored
    content = build()
    savepoint = db.session.begin_nested()
    try:
        row = SheetPdf(content=content, sha256=hashlib.sha256(content).hexdigest(),
                       built_at=utcnow(), **fields)
        db.session.add(row)
        db.session.flush()
        savepoint.commit()
        return row
    except sa.exc.IntegrityError:
        savepoint.rollback()
        stored = find()
        if stored is None:
            raise
        return stored


def sheet_pdf(version: SheetVersion, size: str) -> SheetPdf:
    """The PDF of a room sheet version (built and kept the first time it is asked for)."""
    from ..documents import data
    from ..documents.sheet import room_sheet_pdf

    return _store_pdf(
        lambda: db.session.scalar(sa.select(SheetPdf).where(
            SheetPdf.sheet_version_id == version.id, SheetPdf.size == size)),
        lambda: room_sheet_pdf(data.room_sheet(version), size),
        meeting_id=version.meeting_id, sheet_version_id=version.id, seq=version.seq, size=size,
    )


def booklet_pdf(meeting: Meeting, size: str, booklet) -> SheetPdf:
    """The booklet PDF at the meeting's current publication step (built once, kept);
    ``booklet()`` gives its data."""
    from ..documents.booklet import booklet_pdf as build

    return _store_pdf(
        lambda: db.session.scalar(sa.select(SheetPdf).where(
            SheetPdf.meeting_id == meeting.id, SheetPdf.sheet_version_id.is_(None),
            SheetPdf.seq == meeting.publication_seq, SheetPdf.size == size)),
        lambda: build(booklet(), size),
        meeting_id=meeting.id, sheet_version_id=None, seq=meeting.publication_seq, size=size,
    )
