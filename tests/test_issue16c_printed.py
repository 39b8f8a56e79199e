"""Issue 16, "Only vetted text reaches learners", in the printed documents.

- Off-label or investigational use is declared per presentation (per role) and printed
  only for it; the first slide reads "This presentation includes discussion of …".
- Commercial support (ACCME Standard 4) comes from the company registry, per activity or
  for the whole meeting, monetary or in kind, and is acknowledged by name (and what was
  given in kind) on the room sheet, the all-faculty page, the booklet and the first slide
  of supported sessions. No logos, no amounts (Standard 5).
- Every document names the accredited provider ("Provided by X" / "Jointly provided by X
  and Y") and links to its disclosure policy.
- Non-accredited activities (industry sessions, meals) are listed apart, never under the
  Standard 3 statement, and their people are not asked to disclose for them.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import flask_migrate
import pypdf
import pytest
import sqlalchemy as sa

from disclosures import wording
from disclosures.enums import AssignmentState, Nature
from disclosures.extensions import db
from disclosures.models import (
    Activity,
    Assignment,
    AuditEvent,
    CommercialSupport,
    SheetVersion,
    Statement,
)
from disclosures.reminders.operations import plan_disclosure_reminders
from disclosures.staff import operations as staff_ops
from disclosures.state import judgements

from . import factories, pdfs
from .test_public_sheet import html_text

PROVIDED = "Jointly provided by North American Spine Forum and Lakeside CME."
POLICY = "https://cme.example.org/disclosure-policy"
SUPPORT = str(wording.commercial_support([("Keystone Surgical Devices", None),
                                          ("Axial Imaging", "Loan of ultrasound equipment")]))
MEETING_SUPPORT = str(wording.meeting_support([("Meridian Spine Technologies", None)]))
OFF_LABEL = ("This presentation includes discussion of off-label or investigational use of "
             "rhBMP-2 in the cervical spine.")


def squash(text: str) -> str:
    return " ".join(text.split())


def pdf_text(content: bytes) -> str:
    return squash(pdfs.text(content))


def link_targets(content: bytes) -> set[str]:
    """The addresses of the clickable links (URI actions) in a PDF."""
    found = set()
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if action.get("/URI"):
                found.add(str(action["/URI"]))
    return found


def has_image(content: bytes) -> bool:
    return any("/Image" in str(page.get("/Resources", {}).get("/XObject", {}).values())
               or b"/Subtype /Image" in content
               for page in pypdf.PdfReader(io.BytesIO(content)).pages)


@pytest.fixture()
def scene(app):
    meeting = factories.meeting(
        name="Spine Forum", provider_name="North American Spine Forum",
        joint_provider_name="Lakeside CME", disclosure_policy_url=POLICY)
    room = factories.room(meeting, "Ballroom A")
    first = factories.activity(meeting, room, title="Cervical fusion")
    second = factories.activity(meeting, room, title="Lumbar stenosis",
                                starts_at=first.starts_at + timedelta(hours=2))
    industry = factories.activity(meeting, room, title="Industry lunch symposium",
                                  is_accredited=False,
                                  starts_at=first.starts_at + timedelta(hours=4))
    amelia = factories.user(full_name="Amelia Able", degrees="MD")
    factories.disclosure(amelia, [])
    talk = factories.assignment(amelia, first)
    other_talk = factories.assignment(amelia, second)
    # Only in the industry session: Ivan never disclosed, Isla disclosed a relationship.
    ivan = factories.user(full_name="Ivan Industry", degrees=None)
    lunch = factories.assignment(ivan, industry)
    isla = factories.user(full_name="Isla Industry", degrees=None)
    factories.disclosure(isla, [(factories.company("Summit Pharmaceuticals"), Nature.SPEAKER)])
    factories.assignment(isla, industry)
    factories.support(meeting, "Keystone Surgical Devices", activity_=first)
    factories.support(meeting, "Axial Imaging", "Loan of ultrasound equipment", activity_=first)
    factories.support(meeting, "Meridian Spine Technologies")  # the whole meeting
    db.session.commit()
    return {"meeting": meeting, "room": room, "talk": talk, "other_talk": other_talk,
            "lunch": lunch, "amelia": amelia, "ivan": ivan, "isla": isla, "first": first,
            "industry": industry}


def documents(client, scene, login_as) -> dict[str, str]:
    meeting, room = scene["meeting"], scene["room"]
    faculty = login_as(scene["amelia"])
    return {
        "room page": html_text(client.get(f"/r/{room.public_token}")),
        "room pdf": pdf_text(client.get(f"/r/{room.public_token}.pdf").data),
        "all-faculty page": html_text(client.get(f"/m/{meeting.slug}/disclosures")),
        "booklet pdf": pdf_text(client.get(f"/m/{meeting.slug}/disclosures.pdf").data),
        "slide pdf": pdf_text(faculty.get(f"/assignments/{scene['talk'].id}/slide.pdf").data),
    }


def _declare(login_as, scene, detail="rhBMP-2 in the cervical spine"):
    response = login_as(scene["amelia"]).post(
        f"/faculty/roles/{scene['talk'].id}/off-label",
        data={"discusses_off_label": "yes", "off_label_detail": detail})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


# --------------------------------------------------------------------------- non-accredited


def test_a_non_accredited_session_never_sits_under_the_standard_3_statement(client, scene, login_as):
    """ACCME Standard 3: the statement that everyone in control of content disclosed is made
    of accredited activities only; an industry session is listed apart (room sheet HTML and
    PDF, all-faculty page, booklet), with no disclosure shown for its people."""
    shown = documents(client, scene, login_as)
    for where, text in shown.items():
        if where == "slide pdf":
            continue
        heading = text.index(wording.NOT_ACCREDITED_HEADING)
        lunch = text.index("Industry lunch symposium")
        assert heading < lunch, where
        assert wording.NOT_ACCREDITED in text[lunch:], where
        assert wording.INTRO not in text[heading:], where
        for name in ("Ivan Industry", "Isla Industry", "Summit Pharmaceuticals"):
            assert name not in text, f"{name} in the {where}"
        assert wording.AWAITING not in text and wording.UNDER_REVIEW not in text, where
    # The accredited sessions keep their Standard 3 statement.
    assert shown["room page"].index(wording.INTRO) < shown["room page"].index(wording.NOT_ACCREDITED_HEADING)
    # The industry speaker's own first slide says it is not accredited.
    slide = pdf_text(login_as(scene["ivan"]).get(f"/assignments/{scene['lunch'].id}/slide.pdf").data)
    assert wording.NOT_ACCREDITED in slide
    assert wording.AWAITING not in slide and wording.INTRO not in slide


def test_people_of_a_non_accredited_session_are_not_asked_to_disclose_for_it(client, scene, login_as):
    """Their roles stay judged (stored state == the rule), but no to-do lists them: no
    disclosure reminder, not in the reviewer queue, not counted or missing on the dashboard;
    the faculty page tells them no disclosure is needed for it."""
    meeting = scene["meeting"]
    ivan = scene["ivan"]
    assert scene["lunch"].state is AssignmentState.AWAITING_DISCLOSURE  # judged, kept
    judged = judgements([scene["lunch"].id])[scene["lunch"].id]
    assert judged.state is scene["lunch"].state
    due = [entry.user.id for entry in plan_disclosure_reminders(meeting).due]
    assert ivan.id not in due
    reviewer = factories.reviewer(meeting)
    db.session.commit()
    queue = html_text(login_as(reviewer).get("/review/?state=all"))
    assert "Isla Industry" not in queue and "Amelia Able" in queue
    staff = login_as(factories.staff(meeting))
    dashboard = html_text(staff.get(f"/staff/meetings/{meeting.id}/dashboard"))
    assert "Ivan Industry" not in dashboard and "Isla Industry" not in dashboard
    csv = staff.get(f"/staff/meetings/{meeting.id}/dashboard.csv").get_data(as_text=True)
    assert "Ivan Industry" not in csv
    home = html_text(login_as(ivan).get("/faculty/"))
    assert "Not accredited for CME: no disclosure is needed for this session." in home


def test_staff_mark_an_activity_not_accredited_and_the_sheet_lists_it_apart(client, scene, login_as):
    """Setting an activity non-accredited is audited and republishes its room's sheet."""
    first = scene["first"]
    staff = login_as(factories.staff(scene["meeting"]))
    local = scene["meeting"].local(first.starts_at)
    before = db.session.scalar(sa.select(sa.func.count(SheetVersion.id)))
    response = staff.post(f"/staff/activities/{first.id}/edit", data={
        "version_id": str(first.version_id), "code": first.code, "title": first.title,
        "room_id": str(first.room_id), "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "topics": "",
        "credit_hours": "0", "accreditation": "no"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "activity.updated")).one()
    assert event.changes["is_accredited"] == {"before": True, "after": False}
    assert db.session.scalar(sa.select(sa.func.count(SheetVersion.id))) == before + 1
    page = html_text(client.get(f"/r/{scene['room'].public_token}"))
    assert page.index(wording.NOT_ACCREDITED_HEADING) < page.index("Cervical fusion")


def test_an_accredited_or_cme_column_marks_imported_sessions(login_as, app):
    """Programme import: an optional "CME" (or "Accredited") column, yes or no."""
    from disclosures.programme.operations import apply_import, plan_import
    from disclosures.programme.reading import read_programme

    meeting = factories.meeting(starts_on=date(2027, 10, 6), days=3)
    data = (b"Session Code,Session Title,Date,Start Time,End Time,CME\n"
            b"S1,Fusion,2027-10-07,08:00,09:00,Yes\n"
            b"L1,Industry lunch,2027-10-07,12:00,13:00,no\n"
            b"S2,Stenosis,2027-10-07,14:00,15:00,\n")
    plan = plan_import(meeting, read_programme(data, "p.csv", meeting))
    assert not plan.errors
    apply_import(None, meeting, plan, "p.csv")
    marks = dict(db.session.execute(sa.select(Activity.code, Activity.is_accredited)).all())
    assert marks == {"S1": True, "L1": False, "S2": True}
    bad = read_programme(data.replace(b",no\n", b",maybe\n"), "p.csv", meeting)
    assert [e.column for e in bad.errors] == ["accredited"]


# --------------------------------------------------------------------------- commercial support


def test_commercial_support_is_acknowledged_on_sheet_all_faculty_page_booklet_and_first_slide(
        client, scene, login_as):
    """ACCME Standard 4: support is acknowledged by the supporter's name and the nature of
    in-kind support; the meeting's own support on the sheets and the booklet; no logos
    (no image in any PDF) and no amounts (Standard 5)."""
    shown = documents(client, scene, login_as)
    for where, text in shown.items():
        assert SUPPORT in text, where
        if where != "slide pdf":
            assert MEETING_SUPPORT in text, where
    other = login_as(scene["amelia"]).get(f"/assignments/{scene['other_talk'].id}/slide.pdf")
    assert "Keystone Surgical Devices" not in pdf_text(other.data)  # not a supported session
    meeting, room = scene["meeting"], scene["room"]
    for url in (f"/r/{room.public_token}.pdf", f"/m/{meeting.slug}/disclosures.pdf"):
        assert not has_image(client.get(url).data), url


def test_staff_add_support_from_the_registry_audited_and_republished(client, scene, login_as):
    """Support names a confirmed registry company (an unknown or unconfirmed one is refused
    and nothing changes); adding and removing are audited and publish a new sheet version
    and statement; a price in the in-kind detail is flagged."""
    from .routes import database_digest

    meeting, room = scene["meeting"], scene["room"]
    factories.company("Typed In Devices", needs_review=True)
    factories.company("Lakeview Surgical")
    db.session.commit()
    staff = login_as(factories.staff(meeting))
    staff.get(f"/staff/meetings/{meeting.id}/support")
    url = f"/staff/meetings/{meeting.id}/support"
    before = database_digest()
    for company, kind, detail, message in (
            ("Nobody Medical", "monetary", "", "is not in the company registry"),
            ("Typed In Devices", "monetary", "", "not yet confirmed"),
            ("Lakeview Surgical", "in_kind", "", "Say what was given in kind")):
        response = staff.post(url, data={"company": company, "activity_id": str(scene["first"].id),
                                         "kind": kind, "in_kind_detail": detail})
        assert response.status_code == 400, company
        assert message in html_text(response), company
        assert database_digest() == before
    versions = db.session.scalar(sa.select(sa.func.count(SheetVersion.id)))
    statement = scene["talk"].statement_id
    response = staff.post(url, follow_redirects=True, data={
        "company": "lakeview surgical", "activity_id": str(scene["first"].id), "kind": "in_kind",
        "in_kind_detail": "Instruments worth $20,000"})
    assert response.status_code == 200
    assert "What was given in kind contains a price" in html_text(response)
    added = db.session.scalars(sa.select(CommercialSupport).where(
        CommercialSupport.in_kind_detail == "Instruments worth $20,000")).one()
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "support.added")).one()
    assert event.meeting_id == meeting.id and event.object_id == added.id
    assert db.session.scalar(sa.select(sa.func.count(SheetVersion.id))) == versions + 1
    db.session.expire_all()
    assert db.session.get(Assignment, scene["talk"].id).statement_id != statement
    assert "Lakeview Surgical (in-kind: Instruments worth $20,000)" in html_text(
        client.get(f"/r/{room.public_token}"))
    response = staff.post(f"/staff/support/{added.id}/remove")
    assert response.status_code == 302
    assert db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "support.removed")).one()
    assert db.session.get(CommercialSupport, added.id).removed_at is not None  # kept, for the record
    assert "Lakeview Surgical" not in html_text(client.get(f"/r/{room.public_token}"))


# --------------------------------------------------------------------------- provider


def test_the_provider_and_its_disclosure_policy_link_are_on_every_document(client, scene, login_as):
    """Each document names the accredited (and joint) provider and links to its disclosure
    policy: a link in the pages, a clickable link in every PDF."""
    meeting, room = scene["meeting"], scene["room"]
    for where, text in documents(client, scene, login_as).items():
        assert PROVIDED in text, where
        assert wording.POLICY_LINK in text, where
    for url in (f"/r/{room.public_token}", f"/m/{meeting.slug}/disclosures"):
        assert f'href="{POLICY}"' in client.get(url).get_data(as_text=True), url
    faculty = login_as(scene["amelia"])
    for response in (client.get(f"/r/{room.public_token}.pdf"),
                     client.get(f"/m/{meeting.slug}/disclosures.pdf"),
                     faculty.get(f"/assignments/{scene['talk'].id}/slide.pdf")):
        assert POLICY in link_targets(response.data)


def test_changing_the_provider_publishes_a_new_sheet_version(client, scene):
    meeting, room = scene["meeting"], scene["room"]
    versions = db.session.scalar(sa.select(sa.func.count(SheetVersion.id)).where(
        SheetVersion.room_id == room.id))
    staff_ops.update_meeting(None, meeting, joint_provider_name=None)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(SheetVersion.id)).where(
        SheetVersion.room_id == room.id)) == versions + 1
    text = html_text(client.get(f"/r/{room.public_token}"))
    assert "Provided by North American Spine Forum." in text and "Lakeside CME" not in text


def test_a_meeting_without_a_provider_prints_no_provider_line(client, app):
    meeting = factories.meeting()
    room = factories.room(meeting, "Hall")
    factories.assignment(factories.user(), factories.activity(meeting, room))
    db.session.commit()
    text = html_text(client.get(f"/r/{room.public_token}"))
    assert "rovided by" not in text and wording.POLICY_LINK not in text


# --------------------------------------------------------------------------- off-label


def test_off_label_use_is_printed_only_for_the_presentation_that_declared_it(client, scene, login_as):
    """Off-label or investigational use is declared per presentation: printed once, for that
    role only, on the room sheet, the all-faculty page and the booklet; the first slide of
    that talk reads "This presentation includes discussion of …", the other talk's does not.
    The declaration is audited (never its words) and publishes a new statement for that
    role only."""
    other_statement = scene["other_talk"].statement_id
    _declare(login_as, scene)
    shown = documents(client, scene, login_as)
    for where, text in shown.items():
        assert text.count(OFF_LABEL) == 1, where
    other = login_as(scene["amelia"]).get(f"/assignments/{scene['other_talk'].id}/slide.pdf")
    assert "off-label" not in pdf_text(other.data)
    sheet = shown["room page"]
    assert sheet.index("Cervical fusion") < sheet.index(OFF_LABEL) < sheet.index("Lumbar stenosis")
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "assignment.off_label_declared")).one()
    assert event.changes == {"discusses_off_label": [False, True], "detail_changed": True}
    assert "rhBMP" not in str(event.changes)
    db.session.expire_all()
    assert db.session.get(Assignment, scene["other_talk"].id).statement_id == other_statement
    talk = db.session.get(Assignment, scene["talk"].id)
    assert talk.statement.data["off_label"] == "rhBMP-2 in the cervical spine"
    assert OFF_LABEL in talk.statement.words


def test_off_label_declaration_is_per_role_and_checked(client, scene, login_as):
    """Only for one's own role; "yes" needs the detail; "no" withdraws it (a new statement)."""
    from .routes import database_digest

    ivan, amelia = login_as(scene["ivan"]), login_as(scene["amelia"])
    before = database_digest()
    response = ivan.post(f"/faculty/roles/{scene['talk'].id}/off-label",
                         data={"discusses_off_label": "no"})
    assert response.status_code == 403
    response = amelia.post(f"/faculty/roles/{scene['talk'].id}/off-label",
                           data={"discusses_off_label": "yes"})
    assert response.status_code == 400
    assert "Name the drugs or devices" in html_text(response)
    assert database_digest() == before
    _declare(login_as, scene)
    versions = db.session.scalar(sa.select(sa.func.count(Statement.id)))
    response = login_as(scene["amelia"]).post(f"/faculty/roles/{scene['talk'].id}/off-label",
                                              data={"discusses_off_label": "no"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Statement.id))) == versions + 1
    assert OFF_LABEL not in html_text(client.get(f"/r/{scene['room'].public_token}"))
    # The disclosure form no longer asks about off-label use.
    assert "off_label" not in login_as(scene["amelia"]).get("/faculty/disclosure/new").get_data(as_text=True)


# --------------------------------------------------------------------------- migration


@pytest.mark.slow
def test_migration_moves_off_label_to_each_role_and_supporters_to_the_registry(make_app, empty_database):
    """0020c: a person's latest disclosure's off-label declaration goes to each of their
    roles; each JSON supporter becomes registry support (matched by name or alias, or a new
    company); the old columns go; the downgrade brings them back."""
    url, options = empty_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options)
    with app.app_context():
        flask_migrate.upgrade(revision="0016p")
        with db.engine.begin() as conn:
            run = conn.execute
            run(sa.text("INSERT INTO meeting (id, name, slug, starts_on, ends_on, timezone, "
                        "created_at, publication_seq) VALUES (1, 'Spine', 'spine', '2027-10-06', "
                        "'2027-10-09', 'UTC', CURRENT_TIMESTAMP, 0)"))
            run(sa.text("INSERT INTO company (name, normalized_name, is_ineligible, "
                        "needs_review, created_at) VALUES ('Acme Spine', 'acmespine', true, "
                        "false, CURRENT_TIMESTAMP)"))
            acme = run(sa.text("SELECT id FROM company")).scalar()
            run(sa.text("INSERT INTO user_account (id, email, full_name, is_active, created_at, "
                        "session_nonce) VALUES (1, 'a@example.org', 'A', true, "
                        "CURRENT_TIMESTAMP, 'n')"))
            for n, when in ((1, "08"), (2, "10")):
                run(sa.text(
                    "INSERT INTO activity (id, meeting_id, code, title, starts_at, ends_at, topics, "
                    "credit_hours, commercial_supporters, updated_at, version_id) VALUES "
                    "(:n, 1, :code, 'Talk', :start, :end, '[]', 1, :s, CURRENT_TIMESTAMP, 1)"),
                    {"n": n, "code": f"S{n}", "start": f"2027-10-07 {when}:00",
                     "end": f"2027-10-07 {when}:30",
                     "s": '[{"name": "Acme Spine, Inc.", "in_kind": null}, '
                          '{"name": "New Scopes Co", "in_kind": "loaned scopes"}]' if n == 1 else "[]"})
                run(sa.text("INSERT INTO assignment (id, user_id, activity_id, role, created_at, "
                            "state, state_reasons, state_changed_at, is_late, version_id) VALUES "
                            "(:n, 1, :n, 'speaker', CURRENT_TIMESTAMP, 'awaiting_disclosure', "
                            "'[]', CURRENT_TIMESTAMP, false, 1)"), {"n": n})
            for version, off_label in ((1, False), (2, True)):
                run(sa.text(
                    "INSERT INTO disclosure (user_id, version, submitted_at, valid_until, "
                    "has_relationships, attestation_name, attested_complete, attested_at, "
                    "discusses_off_label, off_label_detail) VALUES (1, :v, CURRENT_TIMESTAMP, "
                    "'2028-01-01', false, 'A', true, CURRENT_TIMESTAMP, :o, :d)"),
                    {"v": version, "o": off_label, "d": "drug Z" if version == 2 else None})
        flask_migrate.upgrade()  # 0020c, and what follows it
        flask_migrate.check()
        with db.engine.connect() as conn:
            roles = conn.execute(sa.text(
                "SELECT id, discusses_off_label, off_label_detail FROM assignment ORDER BY id")).all()
            assert [(r[0], bool(r[1]), r[2]) for r in roles] == [(1, True, "drug Z"), (2, True, "drug Z")]
            support = conn.execute(sa.text(
                "SELECT s.activity_id, c.name, s.kind, s.in_kind_detail, c.id FROM commercial_support s "
                "JOIN company c ON c.id = s.company_id ORDER BY s.id")).all()
            assert [tuple(r[:4]) for r in support] == [
                (1, "Acme Spine", "monetary", None), (1, "New Scopes Co", "in_kind", "loaned scopes")]
            assert support[0][4] == acme  # matched, not duplicated
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("disclosure")}
        assert not columns & {"discusses_off_label", "off_label_detail"}
        flask_migrate.downgrade(revision="0016p")
        with db.engine.connect() as conn:
            assert "loaned scopes" in str(conn.execute(sa.text(
                "SELECT commercial_supporters FROM activity WHERE id = 1")).scalar())
            assert tuple(conn.execute(sa.text(
                "SELECT discusses_off_label, off_label_detail FROM disclosure WHERE version = 2")).one()) in (
                (True, "drug Z"), (1, "drug Z"))
        db.engine.dispose()
