"""Hostile text through the real forms: inert in every page, literal in every PDF, never a 500.

Staff build a programme (meeting, room, activity, topics, supporter), invite a person, the
person discloses (company, detail, off-label text, typed name), a reviewer records a
relevant determination and a mitigation: every text is the same hostile payload. Then
every page and PDF that shows them is read back. Property-based tests drive the sheet,
booklet and slide builders directly with arbitrary Unicode, and every text field's
length limit is checked to answer a form message, never a database error.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from disclosures.documents import booklet as booklet_doc
from disclosures.documents import sheet as sheet_doc
from disclosures.documents import sign as sign_doc
from disclosures.documents import slide as slide_doc
from disclosures.documents.data import (
    ActivitySheet,
    Booklet,
    BookletEntry,
    BookletPerson,
    Day,
    PersonLine,
    RoomSheet,
    Slide,
    Statement,
)
from disclosures.documents.text import clean
from disclosures.enums import MeetingRole, StatementKind
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    Assignment,
    CommercialSupport,
    Company,
    Determination,
    Disclosure,
    Meeting,
    Mitigation,
    Room,
    User,
)

from . import factories, pdfs

# Each payload fits the shortest field it is typed into (a room name: 120 characters).
PAYLOADS = {
    "script": '<script>alert("pwned")</script>',
    "img": "<img src=x onerror=alert(1)>",
    "reportlab": '<para><font name="Evil" size="90">Big & <b>unclosed',
    "entities": "AT&T &amp; &#0; &lt;b&gt; ]]> <!-- x",
    "sql": "Robert'); DROP TABLE user_account;--",
    "rtl": "שלום עולם \u202eevil\u202c مرحبا",
    "combining": "Zalgo Z\u0324\u0311\u0313 a\u0308\u0301 cafe\u0301 naïve",
    "emoji": "Dr 😀 🧑‍⚕️ 👍🏽 ok",
    "controls": "bell\x07 esc\x1b[31m tab\tend",
}
# Payloads whose text a PDF must show literally (the fonts have every character).
LITERAL_IN_PDF = {"script", "img", "reportlab", "entities", "sql", "combining"}
PASSWORD = "a long enough password 1"


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _assert_inert(page: str, payload: str, where: str) -> None:
    """The payload is not live markup: no tag from it survives unescaped."""
    assert _squash(payload) not in page or "<" not in payload, f"{where}: raw payload in the page"
    for tag in re.findall(r"<[a-zA-Z!][^<>]*>?", payload):  # opening tags and comments
        assert tag not in page, f"{where}: {tag!r} from user input reached the page unescaped"
    assert "<script>alert" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")


def _shown_escaped(page: str, payload: str) -> bool:
    return str(escape(_squash(payload))) in page


def _programme_through_forms(staff_client, payload: str) -> dict:
    """Staff type the payload into every programme field; returns ids."""
    start = date.today() + timedelta(days=20)
    response = staff_client.post("/staff/meetings/new", data={
        "name": f"Meeting {payload}", "slug": "hostile", "location": payload,
        "starts_on": start.isoformat(), "ends_on": (start + timedelta(days=2)).isoformat(),
        "timezone": "America/Chicago", "disclosure_deadline": "",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.slug == "hostile"))
    response = staff_client.post(f"/staff/meetings/{meeting.id}/rooms/new", data={"name": payload})
    assert response.status_code == 302
    room = db.session.scalar(sa.select(Room).where(Room.meeting_id == meeting.id))
    response = staff_client.post(f"/staff/meetings/{meeting.id}/activities/new", data={
        "code": "H1", "title": payload, "room_id": str(room.id),
        "starts_at": f"{start.isoformat()} 09:00", "ends_at": f"{start.isoformat()} 10:00",
        "topics": f"{payload}\nlumbar fusion", "credit_hours": "1",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    activity = db.session.scalar(sa.select(Activity).where(Activity.meeting_id == meeting.id))
    # Commercial support from a registry company, in kind: what was given is the payload.
    factories.company("Hostile Support Devices")
    db.session.commit()  # the request sees only what is committed
    response = staff_client.post(f"/staff/meetings/{meeting.id}/support", data={
        "company": "Hostile Support Devices", "activity_id": str(activity.id), "kind": "in_kind",
        "in_kind_detail": payload})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return {"meeting": meeting.id, "room": room.id, "activity": activity.id, "token": room.public_token}


def _person_through_invite(app, staff_client, payload: str, activity_id: int):
    """Staff invite a person whose name is the payload; they set a password; staff assign them."""
    response = staff_client.post("/staff/people/invite", data={
        "email": "hostile@example.org", "full_name": payload, "degrees": "MD", "institution": payload,
    })
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    page = response.get_data(as_text=True)
    _assert_inert(page, payload, "invited page")
    link = re.search(r"/invitation/[A-Za-z0-9_\-]+", page).group(0)
    response = app.test_client().post(link, data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    response = staff_client.post(f"/staff/activities/{activity_id}/assign", data={
        "email": "hostile@example.org", "role": "speaker",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    person = db.session.scalar(sa.select(User).where(User.email == "hostile@example.org"))
    return person


def _login(app, email: str, password: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302
    return client


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_hostile_text_through_every_form_is_inert_in_pages_and_literal_in_pdfs(app, login_as, kind):
    payload = PAYLOADS[kind]
    staff = factories.admin()
    reviewer = factories.user()
    staff_client = login_as(staff)
    ids = _programme_through_forms(staff_client, payload)
    person = _person_through_invite(app, staff_client, payload, ids["activity"])
    stored_name = person.full_name

    # The person discloses, typing the payload everywhere (and their own name to sign).
    faculty = _login(app, "hostile@example.org", PASSWORD)
    response = faculty.post("/faculty/disclosure/new", data={
        "has_relationships": "yes",
        "relationships-0-company": f"{payload} Inc",
        "relationships-0-nature": "consultant",
        "relationships-0-started_on": (date.today() - timedelta(days=90)).isoformat(),
        "relationships-0-ongoing": "y",
        "relationships-0-detail": payload,
        "attestation_name": stored_name,
        "attested_complete": "y",
        "submit": "1",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    disclosure = db.session.scalar(sa.select(Disclosure).where(Disclosure.user_id == person.id))
    relationship = disclosure.relationships[0]
    assignment = db.session.scalar(sa.select(Assignment).where(Assignment.user_id == person.id))
    response = faculty.post(f"/faculty/roles/{assignment.id}/off-label", data={
        "discusses_off_label": "yes", "off_label_detail": payload})  # for this presentation
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    # A reviewer of the meeting judges it relevant and mitigates it, with the payload as
    # rationale and notes.
    factories.grant(reviewer, db.session.get(Meeting, ids["meeting"]), MeetingRole.REVIEWER)
    factories.cleared_role(reviewer, db.session.get(Meeting, ids["meeting"]))  # disclosed too
    review = login_as(reviewer)
    base = f"/review/meetings/{ids['meeting']}/people/{person.id}"
    prefix = f"d{relationship.id}-{assignment.id}"
    response = review.post(f"{base}/determinations/{relationship.id}/{assignment.id}", data={
        f"{prefix}-relevance": "relevant", f"{prefix}-rationale": payload, f"{prefix}-version": "0",
        f"{prefix}-disclosure": str(disclosure.id),
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    determination = db.session.scalar(sa.select(Determination))
    response = review.post(f"{base}/determinations/{determination.id}/mitigations", data={
        f"m{determination.id}-method": "other", f"m{determination.id}-notes": payload,
        f"m{determination.id}-version": str(determination.id),
        f"m{determination.id}-disclosure": str(disclosure.id),
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 1

    # Every page that shows the text: inert markup, and the text is there, escaped.
    pages = {
        "room sheet": (app.test_client(), f"/r/{ids['token']}"),
        "booklet": (app.test_client(), "/m/hostile/disclosures"),
        "faculty home": (faculty, "/faculty/"),
        "faculty disclosure": (faculty, f"/faculty/disclosure/{disclosure.id}"),
        "review page": (review, base),
        "review queue": (review, "/review/?state=all"),
        "staff meeting": (staff_client, f"/staff/meetings/{ids['meeting']}"),
        "staff rooms": (staff_client, f"/staff/meetings/{ids['meeting']}/rooms"),
        "dashboard": (staff_client, f"/staff/meetings/{ids['meeting']}/dashboard"),
        "records": (staff_client, f"/staff/meetings/{ids['meeting']}/records"),
        "audit log": (staff_client, "/staff/audit"),
        "companies": (staff_client, "/staff/companies"),
        "activity edit": (staff_client, f"/staff/activities/{ids['activity']}/edit"),
    }
    shown_in = []
    for where, (client, url) in pages.items():
        response = client.get(url)
        assert response.status_code == 200, f"{where} answered {response.status_code}"
        page = response.get_data(as_text=True)
        _assert_inert(page, payload, where)
        if _shown_escaped(page, payload):
            shown_in.append(where)
    for where in ("room sheet", "booklet", "review page", "faculty disclosure", "staff meeting"):
        assert where in shown_in, f"the {kind} payload is not shown (escaped) on the {where}"

    # Every PDF: builds, parses, and (for text the fonts cover) shows the payload literally.
    pdfs = {
        "room sheet": (app.test_client(), f"/r/{ids['token']}.pdf"),
        "booklet": (app.test_client(), "/m/hostile/disclosures.pdf"),
        "slide": (faculty, f"/assignments/{assignment.id}/slide.pdf"),
        "sign": (staff_client, f"/staff/rooms/{ids['room']}/sign.pdf"),
    }
    for where, (client, url) in pdfs.items():
        response = client.get(url)
        assert response.status_code == 200, f"{where} PDF answered {response.status_code}"
        assert response.mimetype == "application/pdf"
        extracted = _pdf_text(response.data)
        if kind in LITERAL_IN_PDF and where != "sign":
            assert _squash(payload) in extracted, f"{where} PDF does not show {payload!r} literally"
        if kind in LITERAL_IN_PDF and where == "sign":
            assert _squash(payload)[:30] in extracted


# ------------------------------------------------------------------ builders, any Unicode
#
# Whatever the text, each builder's PDF (1) shows every text it was given, as far as a PDF's
# text layer can return it (``pdfs.shows`` lists what it cannot: characters above U+FFFF or
# without a glyph in any shipped font, format characters, whitespace, and the order of
# right-to-left letters), and (2) draws every piece of text inside the page.

# Any Unicode text, surrogates excluded (they cannot be encoded, so no request carries them).
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
NOW = datetime(2031, 5, 1, 14, tzinfo=UTC)


def _statement(company: str, nature: str, off_label: str | None) -> Statement:
    return Statement(StatementKind.RELEVANT, ((company, nature), (company[::-1], "Consultant")), off_label)


def _assert_shows_and_fits(content: bytes, **given: str) -> None:
    extracted = pdfs.text(content)
    for field, value in given.items():
        assert pdfs.shows(extracted, clean(value)), f"{field} {value!r} is not in the PDF text"
    assert pdfs.text_off_the_page(content) == []


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=ANY_TEXT, company=ANY_TEXT, title=ANY_TEXT, room=ANY_TEXT, supporter=ANY_TEXT)
def test_room_sheet_builder_shows_any_unicode_within_the_page(name, company, title, room, supporter):
    person = PersonLine(name, "Speaker", _statement(company, "Consultant", title))
    activity = ActivitySheet(title, "S1", NOW, NOW + timedelta(hours=1), room,
                             ((supporter, company or None),), (person,))
    sheet = RoomSheet(title, room, room, "America/Chicago", NOW,
                      (Day(NOW.date(), True, (activity,)),))
    _assert_shows_and_fits(sheet_doc.room_sheet_pdf(sheet), name=name, company=company,
                           reversed_company=company[::-1], title=title, room=room,
                           supporter=supporter)


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=ANY_TEXT, company=ANY_TEXT, activity=ANY_TEXT, meeting=ANY_TEXT)
def test_booklet_builder_shows_any_unicode_within_the_page(name, company, activity, meeting):
    entry = BookletEntry(activity, NOW, activity, "Speaker", _statement(company, "Advisor", name))
    person = BookletPerson(name, name.lower(), name.lower(), (entry, entry))
    book = Booklet(meeting, "m", meeting, "UTC", NOW.date(), NOW.date(), NOW, (person,))
    _assert_shows_and_fits(booklet_doc.booklet_pdf(book), name=name, company=company,
                           activity=activity, meeting=meeting)


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=ANY_TEXT, company=ANY_TEXT, activity=ANY_TEXT, meeting=ANY_TEXT)
def test_slide_builder_shows_any_unicode_within_the_page(name, company, activity, meeting):
    slide = Slide(meeting, name, "Speaker", activity, NOW, activity, _statement(company, "Employee", name))
    _assert_shows_and_fits(slide_doc.slide_pdf(slide), name=name, company=company,
                           activity=activity, meeting=meeting)


def _shown_whole_or_shortened(extracted: str, value: str) -> bool:
    """The sign sets a line too wide for the page smaller, then shortens it with "…"."""
    return pdfs.shows(extracted, value) or any(
        pdfs.shows(extracted, value[:end] + "…") for end in range(len(value) - 1, 0, -1))


# Room names up to 120 characters of wide letters: too wide for a line even at 8 pt.
WIDE_TEXT = st.text(st.sampled_from("WMÆ王김 @"), min_size=50, max_size=120)


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(room=st.one_of(ANY_TEXT, WIDE_TEXT), meeting=st.one_of(ANY_TEXT, WIDE_TEXT))
def test_sign_builder_shows_any_unicode_within_the_page(room, meeting):
    content = sign_doc.sign_pdf(meeting, room, "https://cme.example.org/r/abc")
    extracted = pdfs.text(content)
    for value in (room, meeting):
        assert _shown_whole_or_shortened(extracted, clean(value, 300)), value
    assert "https://cme.example.org/r/abc" in extracted
    assert pdfs.text_off_the_page(content) == []


def test_sign_shortens_a_room_name_too_wide_for_the_page_even_in_small_print():
    room = "W" * 120  # the longest room name, of the widest letter
    content = sign_doc.sign_pdf("Annual Meeting " * 8, room, "https://cme.example.org/r/abc")
    assert pdfs.text_off_the_page(content) == []
    extracted = pdfs.text(content)
    assert "W" * 40 + "…" in extracted and room not in extracted


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(st.text(st.sampled_from("abcXYZ<>&/;'\"=é ß"), min_size=1, max_size=12),
                      min_size=1, max_size=6))
def test_room_sheet_shows_markup_like_names_literally(words):
    name = " ".join(w.strip() for w in words if w.strip()) or "x"
    person = PersonLine(name, "Speaker", _statement("Acme & <Co>", "Consultant", None))
    activity = ActivitySheet("Talk", "S1", NOW, NOW, "Hall", (), (person,))
    sheet = RoomSheet("M", "Hall", None, "UTC", NOW, (Day(NOW.date(), True, (activity,)),))
    extracted = _pdf_text(sheet_doc.room_sheet_pdf(sheet))
    assert _squash(name) in extracted
    assert "Acme & <Co>" in extracted


# ------------------------------------------------------------------ length limits

# (url builder, form data builder, field typed too long, model column it is stored in)
def _limit_cases(w):
    start = date.today() + timedelta(days=20)
    meeting = {"name": "M", "slug": "limits", "location": "", "starts_on": start.isoformat(),
               "ends_on": start.isoformat(), "timezone": "UTC"}
    activity = {"code": "L1", "title": "T", "room_id": "0", "starts_at": f"{start} 09:00",
                "ends_at": f"{start} 10:00", "topics": "", "credit_hours": "1"}
    support = {"company": "Limit Devices", "activity_id": "0", "kind": "in_kind",
               "in_kind_detail": "Loan"}
    invite = {"email": "new@example.org", "full_name": "New Person", "degrees": "", "institution": ""}
    assign = {"email": "brand-new@example.org", "full_name": "Brand New", "degrees": "", "role": "speaker"}
    return [
        ("staff", "/staff/meetings/new", meeting, "name", Meeting.name),
        ("staff", "/staff/meetings/new", meeting, "slug", Meeting.slug),
        ("staff", "/staff/meetings/new", meeting, "location", Meeting.location),
        ("staff", "/staff/meetings/new", meeting, "timezone", Meeting.timezone),
        ("staff", f"/staff/meetings/{w['meeting']}/rooms/new", {"name": "R"}, "name", Room.name),
        ("staff", f"/staff/meetings/{w['meeting']}/activities/new", activity, "code", Activity.code),
        ("staff", f"/staff/meetings/{w['meeting']}/activities/new", activity, "title", Activity.title),
        ("staff", f"/staff/meetings/{w['meeting']}/activities/new", activity, "topics", None),
        ("staff", f"/staff/meetings/{w['meeting']}/support", support, "in_kind_detail",
         CommercialSupport.in_kind_detail),
        ("staff", "/staff/people/invite", invite, "full_name", User.full_name),
        ("staff", "/staff/people/invite", invite, "degrees", User.degrees),
        ("staff", "/staff/people/invite", invite, "institution", User.institution),
        ("staff", "/staff/people/invite", invite, "email", User.email),
        ("staff", f"/staff/activities/{w['activity']}/assign", assign, "full_name", User.full_name),
        ("staff", f"/staff/activities/{w['activity']}/assign", assign, "degrees", User.degrees),
        ("staff", f"/staff/companies/{w['company']}/aliases", {"alias": "A"}, "alias", Company.name),
        ("staff", f"/staff/companies/{w['company']}/merge", {"target": "A"}, "target", Company.name),
        ("faculty", "/faculty/disclosure/new", w["disclosure"], "relationships-0-company", Company.name),
        ("faculty", "/faculty/disclosure/new", w["disclosure"], "relationships-0-detail", None),
        ("faculty", f"/faculty/roles/{w['role']}/off-label",
         {"discusses_off_label": "yes", "off_label_detail": "x"}, "off_label_detail", None),
        ("faculty", "/faculty/disclosure/new", w["disclosure"], "attestation_name",
         Disclosure.attestation_name),
    ]


@pytest.fixture()
def limit_world(app):
    meeting = factories.meeting()
    activity = factories.activity(meeting)
    company = factories.company("Limit Devices", needs_review=True)
    faculty = factories.user(full_name="Lena Limit")
    staff = factories.admin()
    disclosure = {
        "has_relationships": "yes", "relationships-0-company": "Acme",
        "relationships-0-nature": "consultant",
        "relationships-0-started_on": (date.today() - timedelta(days=30)).isoformat(),
        "relationships-0-ongoing": "y", "relationships-0-detail": "",
        "attestation_name": "Lena Limit", "attested_complete": "y", "submit": "1",
    }
    db.session.commit()
    role = factories.assignment(faculty, activity)
    db.session.commit()
    return {"meeting": meeting.id, "activity": activity.id, "company": company.id, "role": role.id,
            "faculty": faculty, "staff": staff, "disclosure": disclosure}


@pytest.mark.parametrize("index", range(21))
def test_too_long_text_gets_a_form_message_and_saves_nothing(app, login_as, limit_world, index):
    from .routes import database_digest

    who, url, data, field, column = _limit_cases(limit_world)[index]
    client = login_as(limit_world[who])
    before = database_digest()
    # 10,000 characters, and (where the text has a column) one more than the column holds:
    # the form's limit must be no longer than the schema's, or the database would answer.
    lengths = [10_000]
    if column is not None:
        lengths.append(column.property.columns[0].type.length + 1)
    for length in lengths:
        value = "x" * length if field != "email" else "a" * (length - 12) + "@example.org"
        response = client.post(url, data={**data, field: value})
        assert response.status_code == 400, f"{length} characters in {field} at {url}: {response.status_code}"
        page = response.get_data(as_text=True)
        assert re.search(r"characters|longer|Shorten|shorter|under \d|not a known", page), f"no message for {field}"
        assert database_digest() == before
