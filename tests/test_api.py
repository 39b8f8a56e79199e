"""The read-only JSON API: tokens (issued by staff, shown once, hashed, revocable, audited),
what it answers (what the sheets show, from the published record, nothing else), ETags,
and every response of the demo meeting against the OpenAPI description."""

from __future__ import annotations

import json

import jsonschema
import pytest
import sqlalchemy as sa

from disclosures.api import operations as api_ops
from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    ApiToken,
    Assignment,
    AuditEvent,
    Company,
    Determination,
    Meeting,
    Mitigation,
    OwnerDecision,
    Relationship,
    Room,
    Statement,
    User,
)
from disclosures.publication import operations as publication

from . import factories
from .routes import build_world


def _issue(meeting: Meeting, actor: User, name: str = "Meeting app") -> str:
    _token, raw = api_ops.issue_token(actor, meeting, name)
    db.session.commit()
    return raw


def _cleared_world():
    """The routes world with A cleared: Acme relevant (mitigated), the other company judged
    not relevant (with a rationale that must never be shown)."""
    world = build_world()
    factories.determination(world.other_relationship, world.assignment_a, world.reviewer,
                            relevant=False, rationale="Secret reasoning about biologics.")
    db.session.commit()
    return world


def _get(client, url: str, raw: str | None, **headers):
    if raw is not None:
        headers["Authorization"] = f"Bearer {raw}"
    return client.get(url, headers=headers)


# --------------------------------------------------------------------------- tokens


def test_staff_issue_a_token_shown_once_and_stored_hashed(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    page = client.get(f"/staff/meetings/{world.meeting.id}/api-tokens")
    assert page.status_code == 200
    assert "Programme system" in page.get_data(as_text=True)  # the world's token
    assert f"/staff/meetings/{world.meeting.id}/api-tokens" in client.get(
        f"/staff/meetings/{world.meeting.id}/rooms").get_data(as_text=True)  # in the meeting nav

    response = client.post(f"/staff/meetings/{world.meeting.id}/api-tokens",
                           data={"name": "  Meeting   app "})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    raw = html.split('id="new-token" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("cmeapi_") and len(raw) > 40
    assert "shown only this once" in html
    db.session.rollback()
    token = db.session.scalars(sa.select(ApiToken).where(ApiToken.name == "Meeting app")).one()
    assert token.token_hash != raw and raw not in token.token_hash
    assert token.token_hash == api_ops.hash_token(raw)

    again = client.get(f"/staff/meetings/{world.meeting.id}/api-tokens").get_data(as_text=True)
    assert raw not in again and "Meeting app" in again and f"cmeapi_{token.hint}" in again
    # The audit event names the token, never carries it.
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "api_token.issued")).one()
    assert event.actor_id == world.staff.id and event.meeting_id == world.meeting.id
    assert raw not in json.dumps(event.changes) and event.changes["name"] == "Meeting app"
    assert _get(app.test_client(), "/api/v1/meetings", raw).status_code == 200


def test_issuing_refuses_an_empty_or_duplicate_name_with_a_message(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    url = f"/staff/meetings/{world.meeting.id}/api-tokens"
    empty = client.post(url, data={"name": "   "})
    assert empty.status_code == 400 and "Name the app" in empty.get_data(as_text=True)
    assert client.post(url, data={"name": "App"}).status_code == 200
    twice = client.post(url, data={"name": "app"})
    assert twice.status_code == 400 and "already in use" in twice.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 2  # + the world's


def test_a_revoked_token_gets_401_at_once_and_the_revocation_is_audited(app, login_as):
    world = build_world()
    db.session.commit()
    raw = _issue(world.meeting, world.staff)
    api = app.test_client()
    assert _get(api, "/api/v1/meetings", raw).status_code == 200
    token = db.session.scalars(sa.select(ApiToken).where(ApiToken.name == "Meeting app")).one()
    client = login_as(world.staff)
    response = client.post(f"/staff/api-tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert "is revoked" in client.get(response.headers["Location"]).get_data(as_text=True)
    refused = _get(api, "/api/v1/meetings", raw)
    assert refused.status_code == 401
    assert "Bearer" in refused.json["error"] and refused.headers["WWW-Authenticate"].startswith("Bearer")
    db.session.rollback()
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "api_token.revoked")).one()
    assert event.actor_id == world.staff.id and event.meeting_id == world.meeting.id
    # Revoking again is refused, and changes nothing.
    assert client.post(f"/staff/api-tokens/{token.id}/revoke").status_code == 400


def test_other_meetings_staff_cannot_revoke_or_list_a_meetings_tokens(app, login_as):
    world = build_world()
    db.session.commit()
    token = world.api_token
    client = login_as(world.other_staff)
    assert client.get(f"/staff/meetings/{world.meeting.id}/api-tokens").status_code == 403
    assert client.post(f"/staff/api-tokens/{token.id}/revoke").status_code == 403
    db.session.rollback()
    assert db.session.get(ApiToken, token.id).revoked_at is None


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer cmeapi_not-a-real-token",
    "Bearer " + "x" * 5000, "Token abc",
])
def test_missing_or_invalid_token_is_a_401_with_a_clear_json_message(app, header):
    world = build_world()
    db.session.commit()
    headers = {} if header is None else {"Authorization": header}
    for url in ("/api/v1/meetings", f"/api/v1/meetings/{world.meeting.id}",
                f"/api/v1/rooms/{world.room.id}", f"/api/v1/activities/{world.activity.id}",
                f"/api/v1/meetings/{world.meeting.id}/activities"):
        response = app.test_client().get(url, headers=headers)
        assert response.status_code == 401, url
        assert response.is_json and "Authorization: Bearer" in response.json["error"]


def test_a_browser_login_is_not_an_api_token(app, login_as):
    world = build_world()
    db.session.commit()
    response = login_as(world.staff).get(f"/api/v1/meetings/{world.meeting.id}")
    assert response.status_code == 401 and response.is_json


def test_a_token_reads_only_its_own_meeting(app):
    world = build_world()
    other = factories.meeting(name="Hand Course")
    other_room = factories.room(other, "Room 9")
    other_activity = factories.activity(other, other_room, title="Hand talk")
    db.session.commit()
    raw = _issue(world.meeting, world.staff)
    api = app.test_client()
    listed = _get(api, "/api/v1/meetings", raw).json["meetings"]
    assert [m["id"] for m in listed] == [world.meeting.id]
    for url in (f"/api/v1/meetings/{other.id}", f"/api/v1/meetings/{other.id}/activities",
                f"/api/v1/rooms/{other_room.id}", f"/api/v1/activities/{other_activity.id}",
                "/api/v1/rooms/999999"):
        response = _get(api, url, raw)
        assert response.status_code == 404, url
        assert "meeting this token reads" in response.json["error"]
        assert "Hand" not in response.get_data(as_text=True)


# --------------------------------------------------------------------------- what it answers


def test_room_answer_is_the_published_sheet_version_with_its_etag(app):
    world = _cleared_world()
    raw = _issue(world.meeting, world.staff)
    api = app.test_client()
    sheet = publication.latest_sheet(world.room)
    response = _get(api, f"/api/v1/rooms/{world.room.id}", raw)
    assert response.status_code == 200
    body = response.json
    assert body["sheet"]["version"] == sheet.number
    assert body["sheet"]["fingerprint"] == sheet.fingerprint
    assert response.headers["ETag"] == f'"r{world.room.id}.{sheet.number}"'
    # The same ETag as the public room sheet of that version.
    public = api.get(f"/r/{world.room.public_token}")
    assert public.headers["ETag"] == response.headers["ETag"]
    people = {p["name"]: p for a in body["activities"] for p in a["people"]}
    alice = next(p for name, p in people.items() if name.startswith("Alice Able"))
    assert alice["relationships"] == [{"company": "Acme Spine Devices", "nature": Nature.CONSULTANT.label}]
    stored = db.session.get(Assignment, world.assignment_a.id).statement
    assert alice["words"] == stored.words and alice["statement"]["sha256"] == stored.sha256

    again = _get(api, f"/api/v1/rooms/{world.room.id}", raw, **{"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_meeting_etag_moves_with_the_publication_step_and_gives_304_until_then(app):
    world = build_world()
    db.session.commit()
    raw = _issue(world.meeting, world.staff)
    api = app.test_client()
    url = f"/api/v1/meetings/{world.meeting.id}/activities"
    first = _get(api, url, raw)
    etag = first.headers["ETag"]
    assert etag == f'"m{world.meeting.id}.{world.meeting.publication_seq}"'
    assert _get(api, url, raw, **{"If-None-Match": etag}).status_code == 304
    # A published change (B's role removed) is a new step: a new answer without B.
    from disclosures.staff import operations as staff_ops

    staff_ops.remove_assignment(world.staff, db.session.get(Assignment, world.assignment_b.id))
    db.session.commit()
    changed = _get(api, url, raw, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    names = [p["name"] for a in changed.json["activities"] for p in a["people"]]
    assert not any(n.startswith("Bob Baker") for n in names)


def test_activities_show_the_statement_in_force_never_a_recomputed_one(app):
    world = _cleared_world()
    raw = _issue(world.meeting, world.staff)
    # Someone changes a published statement's company behind the record's back (no refresh):
    # the API still shows the published words; it never judges again.
    db.session.execute(sa.update(Relationship).where(Relationship.id == world.relationship.id)
                       .values(company_id=factories.company("Renamed Behind The Back").id))
    db.session.commit()
    body = _get(app.test_client(), f"/api/v1/activities/{world.activity.id}", raw).json
    text = json.dumps(body)
    assert "Acme Spine Devices" in text and "Renamed Behind The Back" not in text


def test_api_is_rate_limited_per_token(app, make_app):
    from disclosures.extensions import limiter

    limited_app = make_app(API_RATE_LIMIT="3 per minute")
    limiter.reset()
    world = build_world()
    db.session.commit()
    first = _issue(world.meeting, world.staff, "First")
    second = _issue(world.meeting, world.staff, "Second")
    api = limited_app.test_client()
    try:
        statuses = [_get(api, "/api/v1/meetings", first).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = _get(api, "/api/v1/meetings", first)
        assert limited.is_json and "Too many requests" in limited.json["error"]
        assert _get(api, "/api/v1/meetings", second).status_code == 200  # its own budget
    finally:
        limiter.reset()


# --------------------------------------------------------------------------- the whole demo


def _schema_validator(spec: dict, name: str):
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": spec["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _response_schema(spec: dict, path: str, status: str) -> str:
    answer = spec["paths"][path]["get"]["responses"][status]
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.fixture()
def demo_api(app):
    from disclosures.demo import load_demo_meeting

    load_demo_meeting(password="x" * 12)
    db.session.commit()
    meeting = db.session.scalars(sa.select(Meeting)).one()
    staff = db.session.scalars(sa.select(User).where(User.email == "staff@example.org")).one()
    raw = _issue(meeting, staff)
    spec = app.test_client().get("/api/openapi.json").json
    api = app.test_client()
    responses = []  # (spec path, URL, response)
    responses.append(("/api/v1/meetings", "/api/v1/meetings", _get(api, "/api/v1/meetings", raw)))
    for path, url in [("/api/v1/meetings/{meeting_id}", f"/api/v1/meetings/{meeting.id}"),
                      ("/api/v1/meetings/{meeting_id}/activities",
                       f"/api/v1/meetings/{meeting.id}/activities")]:
        responses.append((path, url, _get(api, url, raw)))
    for room_id in db.session.scalars(sa.select(Room.id).where(Room.meeting_id == meeting.id)):
        url = f"/api/v1/rooms/{room_id}"
        responses.append(("/api/v1/rooms/{room_id}", url, _get(api, url, raw)))
    for activity_id in db.session.scalars(sa.select(Activity.id).where(Activity.meeting_id == meeting.id)):
        url = f"/api/v1/activities/{activity_id}"
        responses.append(("/api/v1/activities/{activity_id}", url, _get(api, url, raw)))
    return meeting, raw, spec, responses


@pytest.mark.slow
def test_every_response_of_the_demo_meeting_matches_the_openapi_description(app, demo_api):
    meeting, raw, spec, responses = demo_api
    assert spec["openapi"].startswith("3.1")
    jsonschema.Draft202012Validator.check_schema(
        {"$ref": "#/components/schemas/Meeting", "components": spec["components"]})
    covered = set()
    for path, url, response in responses:
        assert response.status_code == 200, url
        assert response.headers["ETag"]
        _schema_validator(spec, _response_schema(spec, path, "200")).validate(response.json)
        covered.add(path)
    assert covered == set(spec["paths"]), "every path of the description is exercised"
    # Errors too: 401 (no token) and 404 (no such object) are the Error schema.
    errors = _schema_validator(spec, "Error")
    api = app.test_client()
    for _path, url, _response in responses[:1] + responses[3:4]:
        unauthorised = api.get(url)
        assert unauthorised.status_code == 401
        errors.validate(unauthorised.json)
    missing = _get(api, "/api/v1/rooms/999999", raw)
    assert missing.status_code == 404
    assert _response_schema(spec, "/api/v1/rooms/{room_id}", "404") == "Error"
    errors.validate(missing.json)
    # Routing errors as well: a path the API does not have, a method it does not take.
    unknown = _get(api, "/api/v1/no-such-thing", raw)
    assert unknown.status_code == 404 and unknown.is_json
    errors.validate(unknown.json)
    wrong_method = api.post("/api/v1/meetings", headers={"Authorization": f"Bearer {raw}"})
    assert wrong_method.status_code == 405 and wrong_method.is_json
    assert "GET" in wrong_method.headers["Allow"]
    errors.validate(wrong_method.json)


@pytest.mark.slow
def test_no_response_of_the_demo_meeting_shows_anything_private(app, demo_api):
    meeting, raw, spec, responses = demo_api
    secrets_ = set()
    secrets_ |= {e for e in db.session.scalars(sa.select(User.email))}
    secrets_ |= {n for n in db.session.scalars(sa.select(Mitigation.notes)) if n}
    secrets_ |= {r for r in db.session.scalars(sa.select(Determination.rationale)) if r}
    secrets_ |= {n for n in db.session.scalars(sa.select(OwnerDecision.note)) if n}
    assert len(secrets_) > 10 and any("@" in s for s in secrets_)
    assert any(s.startswith("Slides peer reviewed") for s in secrets_)

    # Which companies each role may show: those of its relationships found relevant.
    relevant: dict[int, set[str]] = {}
    for assignment_id, company in db.session.execute(
        sa.select(Determination.assignment_id, Relationship.company_id)
        .join(Relationship, Relationship.id == Determination.relationship_id)
        .where(Determination.is_relevant.is_(True))
    ):
        relevant.setdefault(assignment_id, set()).add(db.session.get(Company, company).name)
    statement_of = {s.sha256: s for s in db.session.scalars(
        sa.select(Statement).where(Statement.meeting_id == meeting.id))}
    # Companies disclosed by someone in the meeting but relevant for nobody there.
    disclosed = set(db.session.scalars(sa.text(
        "SELECT DISTINCT company.name FROM relationship JOIN company ON company.id = relationship.company_id")))
    never_relevant = disclosed - set().union(*relevant.values())
    assert never_relevant, "the demo has relationships that were not found relevant"

    shown_companies = 0
    for _path, url, response in responses:
        body = response.get_data(as_text=True)
        strings = list(_strings(response.json))
        for secret in secrets_:
            assert secret not in body, f"{url} shows {secret!r}"
            assert not any(secret in s for s in strings), f"{url} shows {secret!r}"
        for company in never_relevant:
            assert not any(company == s for s in strings), f"{url} shows {company!r}"
        people = []
        if "activities" in response.json:
            people = [p for a in response.json["activities"] for p in a["people"]]
        elif "activity" in response.json:
            people = response.json["activity"]["people"]
        for person in people:
            statement = statement_of[person["statement"]["sha256"]]
            assert person["words"] == statement.words
            companies = {r["company"] for r in person["relationships"]}
            assert companies <= relevant.get(statement.assignment_id, set()), (url, person["name"])
            assert [[r["company"], r["nature"]] for r in person["relationships"]] == \
                statement.data["relationships"]
            shown_companies += len(companies)
    assert shown_companies > 0, "the demo shows some relevant companies"


def test_openapi_description_needs_no_token(app):
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"
    assert "/api/v1/rooms/{room_id}" in response.json["paths"]
