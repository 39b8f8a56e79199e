"""The read-only JSON API: its tokens (issued and revoked by a meeting's staff, audited) and
the documents it serves, read from the published record. Operations never commit.

What the API serves is what attendees read, nothing more: a room is its latest published
``SheetVersion`` (the content the room sheet shows), an activity's people are the
``Statement`` in force for each current role (as the all-faculty pages show them).
Nothing is judged again here: a statement's companies are the ones its published data
names, so a rationale, a note, an e-mail address or a relationship that was not found
relevant cannot reach a response.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..audit import record
from ..documents.text import family_sort_key
from ..enums import StatementKind
from ..errors import Refusal
from ..extensions import db
from ..models import (
    API_TOKEN_PREFIX,
    Activity,
    ApiToken,
    Assignment,
    Meeting,
    PublicationStep,
    Room,
    SheetVersion,
    Statement,
    User,
    hash_token,
    new_api_token,
    utcnow,
)
from ..publication import operations as publication

MAX_TOKEN_LENGTH = 200
ROLE_ORDER = publication.ROLE_ORDER


# --------------------------------------------------------------------------- tokens


def issue_token(actor: User, meeting: Meeting, name: str) -> tuple[ApiToken, str]:
    """A new token that reads ``meeting``; returns the row and the token itself (shown
    once, never stored). Side effects: adds the ``ApiToken`` (its hash only) and the audit
    event ``api_token.issued`` (name and hint, never the token); flushes."""
    name = " ".join((name or "").split())
    if not name:
        raise Refusal("Name the app or system this token is for, e.g. “Meeting app”.", "name")
    taken = db.session.scalar(sa.select(ApiToken.id).where(
        ApiToken.meeting_id == meeting.id, ApiToken.revoked_at.is_(None),
        sa.func.lower(ApiToken.name) == name.lower()))
    if taken is not None:
        raise Refusal(f"A token named “{name}” is already in use for this meeting. Choose "
                      "another name, or revoke that token first.", "name")
    raw = new_api_token()
    token = ApiToken(meeting_id=meeting.id, name=name, token_hash=hash_token(raw),
                     hint=raw[len(API_TOKEN_PREFIX):][:6], created_by_id=actor.id,
                     created_at=utcnow())
    db.session.add(token)
    db.session.flush()
    record(actor, "api_token.issued", token, {"name": name, "hint": token.hint})
    return token, raw


def revoke_token(actor: User, token: ApiToken) -> None:
    """Stop ``token`` working at once. Side effects: sets ``revoked_at``/``revoked_by``,
    audit event ``api_token.revoked``; flushes. Refuses a token already revoked."""
    if token.revoked_at is not None:
        raise Refusal(f"The token “{token.name}” was already revoked.")
    token.revoked_at = utcnow()
    token.revoked_by_id = actor.id
    record(actor, "api_token.revoked", token, {"name": token.name, "hint": token.hint})
    db.session.flush()


def tokens_of(meeting: Meeting) -> list[ApiToken]:
    """The meeting's tokens, current ones first, newest first."""
    return list(db.session.scalars(
        sa.select(ApiToken).where(ApiToken.meeting_id == meeting.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())))


def token_from_header(value: str | None) -> ApiToken | None:
    """The current token an ``Authorization: Bearer …`` header carries, or None (missing,
    malformed, unknown or revoked)."""
    if not value:
        return None
    scheme, _, raw = value.strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalars(sa.select(ApiToken).where(
        ApiToken.token_hash == hash_token(raw), ApiToken.revoked_at.is_(None))).first()


# --------------------------------------------------------------------------- documents


def _iso(moment: datetime, meeting: Meeting) -> str:
    return meeting.local(moment).isoformat()


def step_time(meeting: Meeting) -> datetime:
    """When the meeting's current publication step was taken (its ETag's Last-Modified)."""
    return db.session.scalar(sa.select(PublicationStep.at).where(
        PublicationStep.meeting_id == meeting.id,
        PublicationStep.seq == meeting.publication_seq)) or meeting.created_at


def meeting_summary(meeting: Meeting) -> dict:
    return {
        "id": meeting.id,
        "slug": meeting.slug,
        "name": meeting.name,
        "location": meeting.location,
        "starts_on": meeting.starts_on.isoformat(),
        "ends_on": meeting.ends_on.isoformat(),
        "timezone": meeting.timezone,
        "publication": meeting.publication_seq,
    }


def _latest_sheets(meeting: Meeting) -> dict[int, SheetVersion]:
    newest = (sa.select(SheetVersion.room_id, sa.func.max(SheetVersion.number).label("number"))
              .where(SheetVersion.meeting_id == meeting.id).group_by(SheetVersion.room_id)
              .subquery())
    rows = db.session.scalars(sa.select(SheetVersion).join(
        newest, sa.and_(newest.c.room_id == SheetVersion.room_id,
                        newest.c.number == SheetVersion.number)))
    return {row.room_id: row for row in rows}


def _room_summary(room: Room, sheet: SheetVersion | None, meeting: Meeting) -> dict:
    return {
        "id": room.id,
        "name": room.name,
        "sheet": None if sheet is None else {
            "version": sheet.number,
            "fingerprint": sheet.fingerprint,
            "valid_from": _iso(sheet.valid_from, meeting),
        },
    }


def meeting_document(meeting: Meeting) -> dict:
    """A meeting, its rooms (each with its current sheet version) and where to read more."""
    sheets = _latest_sheets(meeting)
    rooms = db.session.scalars(sa.select(Room).where(Room.meeting_id == meeting.id)
                               .order_by(Room.name, Room.id))
    return {**meeting_summary(meeting),
            "rooms": [_room_summary(room, sheets.get(room.id), meeting) for room in rooms]}


def _person(data: dict, statement: Statement | None, meeting: Meeting) -> dict:
    """One person's public statement: the published data, the exact words, its version."""
    return {
        "name": data["name"],
        "role": data["role"],
        "kind": data["kind"],
        "kind_label": StatementKind(data["kind"]).label,
        "relationships": [{"company": company, "nature": nature}
                          for company, nature in data.get("relationships") or []],
        "off_label": data.get("off_label"),
        "words": statement.words if statement is not None else None,
        "statement": None if statement is None else {
            "version": statement.version,
            "sha256": statement.sha256,
            "valid_from": _iso(statement.valid_from, meeting),
        },
    }


def _support(pairs) -> list[dict]:
    return [{"name": name, "in_kind": in_kind} for name, in_kind in pairs or []]


def room_document(room: Room, sheet: SheetVersion) -> dict:
    """A room's published sheet version, as the room sheet shows it."""
    meeting = room.meeting
    content = sheet.content
    ids = [p["statement_id"] for a in content["activities"] for p in a["people"]
           if p.get("statement_id")]
    statements = {s.id: s for s in db.session.scalars(
        sa.select(Statement).where(Statement.id.in_(ids)))} if ids else {}
    activities = db.session.execute(
        sa.select(Activity.id, Activity.code).where(Activity.meeting_id == meeting.id)).all()
    id_of = {code: activity_id for activity_id, code in activities}
    return {
        "meeting": meeting_summary(meeting),
        "room": {"id": room.id, "name": content["room"]},
        "location": content.get("location"),
        "timezone": content["timezone"],
        "sheet": {"version": sheet.number, "fingerprint": sheet.fingerprint,
                  "valid_from": _iso(sheet.valid_from, meeting)},
        "activities": [{
            "id": id_of.get(item["code"]),
            "code": item["code"],
            "title": item["title"],
            "starts_at": item["starts_at"],
            "ends_at": item["ends_at"],
            "room": content["room"],
            "support": _support(item["support"]),
            "accredited": item.get("accredited", True) is not False,
            "complete": item["complete"],
            "pending": list(item["pending"]),
            "people": [_person(p, statements.get(p.get("statement_id")), meeting)
                       for p in item["people"]],
        } for item in content["activities"]],
    }


def _activities(meeting: Meeting, only: int | None = None) -> list[dict]:
    """Each activity of the meeting (or only one) with its times, room, commercial support
    and each current role's published statement, in the sheet's order."""
    stmt = (sa.select(Activity, Room.name).outerjoin(Room, Room.id == Activity.room_id)
            .where(Activity.meeting_id == meeting.id).order_by(Activity.starts_at, Activity.id))
    if only is not None:
        stmt = stmt.where(Activity.id == only)
    activities = db.session.execute(stmt).all()
    people: dict[int, list] = {}
    if activities:
        rows = db.session.execute(
            sa.select(Assignment.activity_id, Assignment.role, User.full_name, Statement)
            .join(User, User.id == Assignment.user_id)
            .join(Statement, Statement.id == Assignment.statement_id)
            .where(Assignment.activity_id.in_([a.id for a, _ in activities]),
                   Assignment.removed_at.is_(None)))
        for row in rows:
            people.setdefault(row.activity_id, []).append(row)
    result = []
    support = publication.activity_support(a.id for a, _ in activities)
    for activity, room_name in activities:
        rows = sorted(people.get(activity.id, []),
                      key=lambda r: (ROLE_ORDER.get(r.role, 9), family_sort_key(r.full_name)))
        # As on the sheets: an excluded role is left off, and the activity is not complete.
        excluded = [r for r in rows if r.Statement.kind is StatementKind.EXCLUDED]
        shown = [_person(r.Statement.data, r.Statement, meeting) for r in rows if r not in excluded]
        pending = [p["name"] for p in shown
                   if p["kind"] not in (StatementKind.RELEVANT.value, StatementKind.NONE.value)
                   ] if activity.is_accredited else []
        result.append({
            "id": activity.id,
            "code": activity.code,
            "title": activity.title,
            "starts_at": _iso(activity.starts_at, meeting),
            "ends_at": _iso(activity.ends_at, meeting),
            "room": room_name,
            "support": _support(support.get(activity.id, [])),
            "accredited": activity.is_accredited,
            "complete": activity.is_accredited and bool(shown) and not pending and not excluded,
            "pending": pending,
            "people": shown,
        })
    return result


def activities_document(meeting: Meeting) -> dict:
    return {"meeting": meeting_summary(meeting), "activities": _activities(meeting)}


def activity_document(activity: Activity) -> dict:
    meeting = activity.meeting
    return {"meeting": meeting_summary(meeting), "activity": _activities(meeting, activity.id)[0]}
