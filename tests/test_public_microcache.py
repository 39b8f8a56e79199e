"""The per-worker micro-cache in front of public room sheets: no SQL within the window,
changes committed in this process show at once, 304 from the cached marker, expiry."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from disclosures import wording
from disclosures.enums import AssignmentRole, Nature
from disclosures.extensions import db
from disclosures.models import Room
from disclosures.public import microcache

from . import factories
from .sql import statements

NONE = wording.NO_RELATIONSHIPS
REVIEW = wording.UNDER_REVIEW
PATHS = {"html": "/r/{token}", "pdf": "/r/{token}.pdf", "pdf-a4": "/r/{token}.pdf?size=a4"}


@pytest.fixture(autouse=True)
def empty_cache():
    microcache.clear()
    yield
    microcache.clear()


@pytest.fixture()
def clock(monkeypatch):
    """Entry ages under the test's control: ``clock.now`` seconds."""

    class Clock:
        now = 1000.0

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(microcache, "clock", fake)
    return fake


@pytest.fixture()
def sheet(app):
    """One room, one talk, one speaker whose single relationship awaits review."""
    meeting = factories.meeting(name="Cervical Course")
    room = factories.room(meeting, "Hall B")
    activity = factories.activity(meeting, room, title="Disc arthroplasty")
    speaker = factories.user(full_name="Sam Speaker")
    disclosure = factories.disclosure(speaker, [(factories.company("Arthro Implants"), Nature.CONSULTANT)])
    assignment = factories.assignment(speaker, activity, AssignmentRole.SPEAKER)
    reviewer = factories.reviewer(meeting, full_name="Rae Reviewer")
    db.session.commit()
    return {"meeting": meeting, "room": room, "token": room.public_token, "speaker": speaker,
            "relationship": disclosure.relationships[0], "assignment": assignment,
            "reviewer": reviewer}


def text_of(response) -> str:
    if response.mimetype == "application/pdf":
        from .test_public_sheet import pdf_text

        return pdf_text(response.data)
    from .test_public_sheet import html_text

    return html_text(response)


@pytest.mark.parametrize("kind", sorted(PATHS))
def test_microcache_second_anonymous_get_sends_no_sql_and_same_bytes(client, sheet, clock, kind):
    path = PATHS[kind].format(token=sheet["token"])
    with statements() as sent:
        first = client.get(path)
    assert first.status_code == 200 and sent  # the first one asks the database
    clock.now += 1.5
    with statements() as sent:
        second = client.get(path)
    assert second.status_code == 200
    assert sent == []
    assert second.data == first.data
    for header in ("ETag", "Last-Modified", "Cache-Control", "Content-Type",
                   "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                   "Content-Disposition"):
        assert second.headers.get(header) == first.headers.get(header), header
    assert second.headers["Cache-Control"] == "public, no-cache"


def test_microcache_sizes_are_separate_entries(client, sheet, clock):
    token = sheet["token"]
    paths = [f"/r/{token}.pdf", f"/r/{token}.pdf?size=letter", f"/r/{token}.pdf?size=a4"]
    first = [client.get(path).data for path in paths]
    with statements() as sent:
        assert [client.get(path).data for path in paths] == first
    assert sent == []
    assert first[0] == first[1] != first[2]  # letter by default; a4 its own entry
    for bad in ("tabloid", "LETTER", ""):
        for _ in range(2):  # never stored: still a 400, however often asked
            response = client.get(f"/r/{token}.pdf?size={bad}")
            assert response.status_code == (200 if bad == "" else 400), bad


@pytest.mark.parametrize("kind", ["html", "pdf"])
def test_microcache_conditional_get_is_304_without_sql(client, sheet, clock, kind):
    path = PATHS[kind].format(token=sheet["token"])
    first = client.get(path)
    with statements() as sent:
        by_etag = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        by_date = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
        other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert sent == []
    assert by_etag.status_code == 304 and by_date.status_code == 304
    assert by_etag.headers["ETag"] == first.headers["ETag"]
    assert by_etag.headers["Cache-Control"] == "public, no-cache"
    assert by_etag.data == b""
    assert other.status_code == 200 and other.data == first.data


def test_microcache_conditional_first_request_is_304_and_not_kept(client, sheet, clock):
    path = f"/r/{sheet['token']}"
    etag = client.get(path).headers["ETag"]
    microcache.clear()  # as in a worker that has not served it yet
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    with statements() as sent:
        assert client.get(path).status_code == 200
    assert sent  # the 304 did not store an entry without a body


@pytest.mark.parametrize("kind", ["html", "pdf"])
def test_microcache_entry_older_than_the_window_is_revalidated(app, client, sheet, clock, kind):
    path = PATHS[kind].format(token=sheet["token"])
    assert app.config["PUBLIC_CACHE_SECONDS"] == 2
    first = client.get(path)
    clock.now += 1.99
    with statements() as sent:
        client.get(path)
    assert sent == []
    clock.now += 0.01  # 2.0 s after the entry was stored
    with statements() as sent:
        again = client.get(path)
    assert sent  # asked the database again
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    with statements() as sent:
        client.get(path)
    assert sent == []  # and keeps the revalidated entry for another window


def test_microcache_reissued_token_is_404_at_once_in_this_process(client, login_as, sheet, clock):
    old = sheet["token"]
    staff = login_as(factories.admin())
    for path in (f"/r/{old}", f"/r/{old}.pdf"):
        assert client.get(path).status_code == 200
        with statements() as sent:
            assert client.get(path).status_code == 200
        assert sent == []  # cached
    response = staff.post(f"/staff/rooms/{sheet['room'].id}/reissue-token")
    assert response.status_code == 302
    new = db.session.get(Room, sheet["room"].id).public_token
    assert new != old
    for path in (f"/r/{old}", f"/r/{old}.pdf"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"scan the code posted at the room entrance" in response.data
    assert client.get(f"/r/{new}").status_code == 200
    assert client.get(f"/r/{new}.pdf").status_code == 200


def test_microcache_determination_through_the_review_form_shows_at_once(client, login_as, sheet, clock):
    path = f"/r/{sheet['token']}"
    first = client.get(path)
    assert "Sam Speaker" in text_of(first) and REVIEW in text_of(first)
    assert NONE not in text_of(first)
    assert REVIEW in text_of(client.get(f"{path}.pdf"))
    with statements() as sent:
        client.get(path)
        client.get(f"{path}.pdf")
    assert sent == []  # both cached

    reviewer = login_as(sheet["reviewer"])
    relationship, assignment = sheet["relationship"], sheet["assignment"]
    prefix = f"d{relationship.id}-{assignment.id}"
    response = reviewer.post(
        f"/review/meetings/{sheet['meeting'].id}/people/{sheet['speaker'].id}"
        f"/determinations/{relationship.id}/{assignment.id}",
        data={f"{prefix}-relevance": "not_relevant", f"{prefix}-rationale": "Unrelated to the talk.",
              f"{prefix}-version": "0", f"{prefix}-disclosure": str(relationship.disclosure_id)})
    assert response.status_code == 302

    second = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert NONE in text_of(second) and REVIEW not in text_of(second)
    pdf = text_of(client.get(f"{path}.pdf"))
    assert NONE in pdf and REVIEW not in pdf


def test_microcache_change_committed_by_any_session_clears_it(client, sheet, clock):
    path = f"/r/{sheet['token']}"
    first = client.get(path)
    from disclosures.staff.operations import rename_room

    rename_room(None, db.session.get(Room, sheet["room"].id), "Hall C")  # outside any request
    db.session.commit()
    second = client.get(path)
    assert "Hall C" in text_of(second)
    assert second.headers["ETag"] != first.headers["ETag"]


def test_microcache_rolled_back_or_read_only_sessions_keep_it(client, sheet, clock):
    path = f"/r/{sheet['token']}"
    client.get(path)
    db.session.get(Room, sheet["room"].id).name = "Never saved"
    db.session.flush()
    db.session.rollback()
    db.session.scalars(sa.select(Room)).all()
    db.session.commit()  # read-only
    with statements() as sent:
        assert "Hall B" in text_of(client.get(path))
    assert sent == []


def test_microcache_unknown_token_is_never_a_hit(client, sheet, clock):
    for _ in range(2):
        with statements() as sent:
            response = client.get("/r/no-such-room-token")
        assert response.status_code == 404
        assert sent  # every unknown token is looked up


def test_microcache_logged_in_and_flashed_requests_bypass_it(client, login_as, sheet, clock):
    path = f"/r/{sheet['token']}"
    anonymous = client.get(path)
    staff = login_as(factories.admin())
    client.get(path)  # anonymous entry (the login may have cleared it)
    with statements() as sent:
        response = staff.get(path)
    assert response.status_code == 200 and sent
    assert response.headers["Cache-Control"] == "no-store"
    assert "Log out" in response.get_data(as_text=True) or response.data != anonymous.data
    with statements() as sent:
        staff.get(f"{path}.pdf")
    assert sent


def test_microcache_off_when_seconds_is_zero(app, client, sheet, clock, monkeypatch):
    path = f"/r/{sheet['token']}"
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_SECONDS", 0)
    for _ in range(2):
        with statements() as sent:
            assert client.get(path).status_code == 200
        assert sent
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_SECONDS", 2)
    with statements() as sent:
        client.get(path)
    assert sent  # nothing was kept while it was off
    with statements() as sent:
        client.get(path)
    assert sent == []


def _paths(sheet) -> tuple[str, str, str]:
    return tuple(PATHS[kind].format(token=sheet["token"]) for kind in ("html", "pdf", "pdf-a4"))


def _asks_database(client, path: str) -> bool:
    with statements() as sent:
        assert client.get(path).status_code == 200
    return bool(sent)


def test_microcache_keeps_at_most_max_entries_and_drops_the_least_recently_used(
        app, client, sheet, clock, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_MAX_ENTRIES", 2)
    html, pdf, a4 = _paths(sheet)
    assert _asks_database(client, html) and _asks_database(client, pdf)
    assert not _asks_database(client, html)  # kept; now the most recently used
    assert _asks_database(client, a4)  # a third: the PDF, least recently used, goes
    assert not _asks_database(client, html) and not _asks_database(client, a4)
    assert _asks_database(client, pdf)


def test_microcache_keeps_within_its_byte_budget(app, client, sheet, clock, monkeypatch):
    html, pdf, _a4 = _paths(sheet)
    html_size, pdf_size = len(client.get(html).data), len(client.get(pdf).data)
    assert html_size < pdf_size
    microcache.clear()
    # Room for the PDF alone, not for both: the older entry goes to make room.
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_MAX_BYTES", pdf_size + html_size // 2)
    assert _asks_database(client, html) and _asks_database(client, pdf)
    assert not _asks_database(client, pdf)
    assert _asks_database(client, html)
    # A response larger than the whole budget is never kept, and pushes nothing out.
    microcache.clear()
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_MAX_BYTES", pdf_size - 1)
    assert _asks_database(client, html)
    for _ in range(2):
        assert _asks_database(client, pdf)
    assert not _asks_database(client, html)


def _entry(size: int, at: float = 0.0) -> microcache.Entry:
    from datetime import UTC, datetime

    return microcache.Entry(microcache.Validator("e", datetime(2030, 1, 1, tzinfo=UTC)),
                            b"x" * size, (), at)


LIMITS = {"max_age": 2, "max_entries": 3, "max_bytes": 10_000}


def test_sheet_cache_refuses_a_result_read_before_a_clear(clock):
    """The race the views guard against: a request reads the database, a commit in this
    process clears the cache, then the request would store what it read (now stale)."""
    cache = microcache.SheetCache()
    generation = cache.generation  # a request starts reading the database …
    cache.clear()  # … a commit in this process empties the cache …
    cache.put(("html", "t", ""), _entry(10, clock.now), generation, **LIMITS)
    assert cache.get(("html", "t", ""), 2) is None  # … so what the request read is not kept
    cache.put(("html", "t", ""), _entry(10, clock.now), cache.generation, **LIMITS)
    assert cache.get(("html", "t", ""), 2) is not None
    clock.now += 2
    assert cache.get(("html", "t", ""), 2) is None


FACULTY_PATHS = ["/m/{slug}/disclosures", "/m/{slug}/disclosures.pdf", "/disclosures",
                 "/disclosures.pdf?size=a4", "/m/{slug}/disclosures/s", "/disclosures/s"]


@pytest.mark.parametrize("template", FACULTY_PATHS)
def test_microcache_all_faculty_page_and_booklet_are_kept_too(client, login_as, sheet, clock, template):
    # Every room sheet links to the all-faculty page, so it gets the same burst.
    path = template.format(slug=sheet["meeting"].slug)
    first = client.get(path)
    assert first.status_code == 200
    assert "Sam Speaker" in text_of(first) and REVIEW in text_of(first)
    clock.now += 1.0
    with statements() as sent:
        second = client.get(path)
    assert sent == [] and second.data == first.data

    relationship, assignment = sheet["relationship"], sheet["assignment"]
    prefix = f"d{relationship.id}-{assignment.id}"
    response = login_as(sheet["reviewer"]).post(
        f"/review/meetings/{sheet['meeting'].id}/people/{sheet['speaker'].id}"
        f"/determinations/{relationship.id}/{assignment.id}",
        data={f"{prefix}-relevance": "not_relevant", f"{prefix}-rationale": "Unrelated to the talk.",
              f"{prefix}-version": "0", f"{prefix}-disclosure": str(relationship.disclosure_id)})
    assert response.status_code == 302
    after = text_of(client.get(path))
    assert NONE in after and REVIEW not in after


@pytest.mark.parametrize("search", ["?q=sam", "?q=sam&page=1"])
def test_microcache_all_faculty_searches_are_not_kept(client, sheet, clock, search):
    path = f"/m/{sheet['meeting'].slug}/disclosures{search}"
    assert "Sam Speaker" in text_of(client.get(path))
    with statements() as sent:
        assert "Sam Speaker" in text_of(client.get(path))
    assert sent  # each search asks the database
    assert client.get(f"/m/{sheet['meeting'].slug}/disclosures?q=" + "x" * 500).status_code == 400


def test_microcache_searches_share_the_meeting_marker_and_see_a_change_at_once(
        client, login_as, sheet, clock):
    """A run of different searches asks for the meeting's change marker once per window (a
    flood of searches costs no aggregate query each), yet a change saved shows at once."""
    slug = sheet["meeting"].slug
    with statements() as first:
        assert REVIEW in text_of(client.get(f"/m/{slug}/disclosures?q=sam"))
    clock.now += 0.5
    with statements() as second:
        assert REVIEW in text_of(client.get(f"/m/{slug}/disclosures?q=speaker"))
    assert len(first) > 2
    assert len(second) == 1  # which meeting: no change-marker query, no booklet

    relationship, assignment = sheet["relationship"], sheet["assignment"]
    prefix = f"d{relationship.id}-{assignment.id}"
    response = login_as(sheet["reviewer"]).post(
        f"/review/meetings/{sheet['meeting'].id}/people/{sheet['speaker'].id}"
        f"/determinations/{relationship.id}/{assignment.id}",
        data={f"{prefix}-relevance": "not_relevant", f"{prefix}-rationale": "Unrelated to the talk.",
              f"{prefix}-version": "0", f"{prefix}-disclosure": str(relationship.disclosure_id)})
    assert response.status_code == 302
    after = text_of(client.get(f"/m/{slug}/disclosures?q=speaker"))
    assert NONE in after and REVIEW not in after
