"""The staff dashboard: counts by state, what blocks each room and day, CSV export."""

import csv
import io
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures.demo import load_demo_meeting
from disclosures.enums import AssignmentRole, AssignmentState, Nature
from disclosures.extensions import db
from disclosures.models import Activity, Assignment, Meeting, User

from . import factories
from .spreadsheet import every_cell_quoted, formulas_read_with
from .sql import statements


@pytest.fixture()
def setting(app):
    meeting = factories.meeting(name="Spine Forum 2031", starts_on=date.today() + timedelta(days=30))
    room = factories.room(meeting, "Ballroom A")
    activity = factories.activity(meeting, room, title="Lumbar fusion outcomes", code="S001")
    cleared_activity = factories.activity(meeting, room, title="Coding and billing", code="S002")
    waiting = factories.user(full_name="Waiting Speaker")
    factories.assignment(waiting, activity, AssignmentRole.SPEAKER)
    factories.disclosure(waiting, [(factories.company(), Nature.CONSULTANT)])
    silent = factories.user(full_name="Silent Moderator")
    factories.assignment(silent, activity, AssignmentRole.MODERATOR)
    clear = factories.user(full_name="Clear Person")
    factories.assignment(clear, cleared_activity)
    factories.assignment(clear, activity, AssignmentRole.PANELIST)
    factories.disclosure(clear, [])
    staff = factories.admin()
    return {"meeting": meeting, "staff": staff}


def url(meeting, csv_=False):
    return f"/staff/meetings/{meeting.id}/dashboard" + (".csv" if csv_ else "")


def test_dashboard_missing_meeting_is_404(login_as, setting):
    assert login_as(setting["staff"]).get("/staff/meetings/999999/dashboard").status_code == 404


def test_dashboard_lists_who_is_missing_what(login_as, setting):
    html = login_as(setting["staff"]).get(url(setting["meeting"])).get_data(as_text=True)
    assert "Ballroom A" in html and "Lumbar fusion outcomes" in html
    assert "Waiting Speaker" in html and "1 relationship awaiting a relevance decision" in html
    assert "Silent Moderator" in html and "No disclosure submitted" in html
    assert "Clear Person" not in html  # cleared people are not listed
    assert "Coding and billing" not in html  # fully cleared activity is not listed
    assert "1 / 2" in html  # activities fully cleared
    assert "30" in html and "days to the meeting" in html
    assert "23" in html and "days to the disclosure deadline" in html


def test_dashboard_says_when_deadline_passed(login_as, app):
    meeting = factories.meeting(starts_on=date.today() + timedelta(days=3), disclosure_deadline=date.today() - timedelta(days=4))
    html = login_as(factories.admin()).get(url(meeting)).get_data(as_text=True)
    assert "4 days ago" in html and "Every role in every activity is cleared." in html


def test_dashboard_csv_has_the_same_rows(login_as, setting):
    response = login_as(setting["staff"]).get(url(setting["meeting"], csv_=True))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Day", "Room", "Start", "Activity code", "Activity"]
    people = {(r[5], r[7], r[8], r[9]) for r in rows[1:]}
    assert people == {
        ("Waiting Speaker", "Speaker", "Awaiting review", "1 relationship awaiting a relevance decision"),
        ("Silent Moderator", "Moderator", "Awaiting disclosure", "No disclosure submitted"),
    }
    assert all(r[1] == "Ballroom A" and r[3] == "S001" for r in rows[1:])


def test_dashboard_csv_neutralises_spreadsheet_formulas(login_as, setting):
    person = db.session.scalar(sa.select(User).where(User.full_name == "Silent Moderator"))
    person.full_name = "=HYPERLINK(\"http://evil\")"
    text = login_as(setting["staff"]).get(url(setting["meeting"], csv_=True)).get_data(as_text=True)
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_dashboard_csv_quotes_every_cell_so_no_separator_splits_a_formula_out(login_as, setting):
    activity = db.session.scalar(sa.select(Activity).where(Activity.code == "S001"))
    activity.title = "Acme;=1+1;x"
    person = db.session.scalar(sa.select(User).where(User.full_name == "Silent Moderator"))
    person.full_name = "-2+3;Silent"
    body = login_as(setting["staff"]).get(url(setting["meeting"], csv_=True)).data
    text = body.decode("utf-8-sig")
    assert every_cell_quoted(text)
    assert ',"Acme;=1+1;x",' in text  # one cell
    assert ',"\'-2+3;Silent",' in text  # one cell, neutralised
    assert formulas_read_with(text, ";") == [] and formulas_read_with(text, ",") == []


def test_dashboard_ignores_removed_assignments(login_as, setting):
    silent = db.session.scalar(sa.select(User).where(User.full_name == "Silent Moderator"))
    silent.assignments[0].removed_at = datetime.now(UTC)
    html = login_as(setting["staff"]).get(url(setting["meeting"])).get_data(as_text=True)
    assert "Silent Moderator" not in html


def test_dashboard_counts_match_the_demo_meeting(login_as, app):
    load_demo_meeting(password="x" * 12)
    meeting = db.session.scalar(sa.select(Meeting))
    staff = factories.admin()  # logs in with the factories' password
    # Computed independently of the dashboard: every current assignment of the meeting, the
    # planning committee and reviewers (roles for the whole meeting) included, and none in a
    # non-accredited activity (nobody discloses for the demo's industry lunch: never missing).
    assignments = db.session.scalars(
        sa.select(Assignment).outerjoin(Activity, Activity.id == Assignment.activity_id)
        .where(Assignment.meeting_id == meeting.id, Assignment.removed_at.is_(None),
               sa.or_(Assignment.activity_id.is_(None), Activity.is_accredited))
    ).all()
    expected = Counter(s.state for s in factories.stored_states(assignments).values())
    in_sessions = Counter(s.state for s in factories.stored_states(
        [a for a in assignments if a.activity_id is not None]).values())
    assert set(expected) == set(AssignmentState)  # the demo has every state
    html = login_as(staff).get(url(meeting)).get_data(as_text=True)
    shown = {
        state: int(count)
        for state, count in re.findall(r'class="dashboard-count" data-state="([a-z_]+)">(\d+)<', html)
    }
    assert shown == {state.value: expected[state] for state in AssignmentState}
    rows = list(csv.reader(io.StringIO(
        login_as(staff).get(url(meeting, csv_=True)).get_data(as_text=True).lstrip("\ufeff")
    )))[1:]
    # The CSV lists the sessions' roles that are not cleared (by day and room).
    assert len(rows) == sum(in_sessions.values()) - in_sessions[AssignmentState.CLEARED]
    assert Counter(r[8] for r in rows) == Counter(
        {s.label: n for s, n in in_sessions.items() if s is not AssignmentState.CLEARED}
    )


def test_dashboard_linked_from_meeting_nav(login_as, setting):
    html = login_as(setting["staff"]).get(url(setting["meeting"])).get_data(as_text=True)
    assert f'href="/staff/meetings/{setting["meeting"].id}/dashboard" aria-current="page"' in html


@pytest.fixture()
def two_days(app):
    """A meeting with a blocked activity on its first and on its third day."""
    meeting = factories.meeting(name="Spine Forum 2032", starts_on=date.today() + timedelta(days=30))
    room = factories.room(meeting, "Hall B")
    first = factories.activity(meeting, room, title="Day one session", code="D1")
    third = factories.activity(
        meeting, room, title="Day three session", code="D3",
        starts_at=datetime.combine(meeting.starts_on + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
        + timedelta(hours=15),
    )
    factories.assignment(factories.user(full_name="First Day Speaker"), first)
    factories.assignment(factories.user(full_name="Third Day Speaker"), third)
    return {"meeting": meeting, "staff": factories.admin()}


def test_dashboard_shows_first_blocked_day_by_default_with_links_to_every_day(login_as, two_days):
    meeting = two_days["meeting"]
    html = login_as(two_days["staff"]).get(url(meeting)).get_data(as_text=True)
    assert "First Day Speaker" in html and "Third Day Speaker" not in html
    for n in range(4):  # the factory's meeting lasts four days
        day = (meeting.starts_on + timedelta(days=n)).isoformat()
        assert f'href="/staff/meetings/{meeting.id}/dashboard?day={day}"' in html
    first = meeting.starts_on.isoformat()
    assert f'href="/staff/meetings/{meeting.id}/dashboard?day={first}" aria-current="page"' in html


def test_dashboard_day_filter_shows_that_days_blockers_only(login_as, two_days):
    meeting = two_days["meeting"]
    third = (meeting.starts_on + timedelta(days=2)).isoformat()
    response = login_as(two_days["staff"]).get(url(meeting) + f"?day={third}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Third Day Speaker" in html and "Day three session" in html
    assert "First Day Speaker" not in html and "Day one session" not in html
    assert f'dashboard?day={third}" aria-current="page"' in html
    # Counts stay those of the whole meeting.
    assert 'data-state="awaiting_disclosure">2<' in html


def test_dashboard_day_without_blockers_says_so(login_as, two_days):
    meeting = two_days["meeting"]
    second = (meeting.starts_on + timedelta(days=1)).isoformat()
    html = login_as(two_days["staff"]).get(url(meeting) + f"?day={second}").get_data(as_text=True)
    assert "is cleared" in html
    assert "First Day Speaker" not in html and "Third Day Speaker" not in html


@pytest.mark.parametrize("bad", ["2026-02-30", "yesterday", "x" * 500, "1999-01-01", "2026-12-14T00:00"])
def test_dashboard_bad_day_is_400_with_a_message_and_the_default_day(login_as, two_days, bad):
    response = login_as(two_days["staff"]).get(url(two_days["meeting"]), query_string={"day": bad})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "showing the default day instead" in html
    assert "First Day Speaker" in html  # the default day, still usable


def test_dashboard_during_the_meeting_shows_today(login_as, app):
    meeting = factories.meeting(starts_on=date.today() - timedelta(days=1))
    room = factories.room(meeting, "Hall C")
    yesterday = factories.activity(meeting, room, title="Yesterday session")
    today = factories.activity(
        meeting, room, title="Today session",
        starts_at=datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=17),
    )
    factories.assignment(factories.user(full_name="Yesterday Speaker"), yesterday)
    factories.assignment(factories.user(full_name="Today Speaker"), today)
    html = login_as(factories.admin()).get(url(meeting)).get_data(as_text=True)
    assert "Today Speaker" in html and "Yesterday Speaker" not in html


def test_dashboard_csv_keeps_every_day(login_as, two_days):
    text = login_as(two_days["staff"]).get(url(two_days["meeting"], csv_=True)).get_data(as_text=True)
    assert "First Day Speaker" in text and "Third Day Speaker" in text


def test_dashboard_statement_count_does_not_depend_on_rows(login_as, two_days):
    client = login_as(two_days["staff"])
    meeting = two_days["meeting"]
    client.get(url(meeting))
    with statements() as sent:
        client.get(url(meeting))
    few = len(sent)
    room = factories.room(meeting, "Hall D")
    for n in range(20):
        person = factories.user(full_name=f"Extra Speaker {n}")
        factories.assignment(person, factories.activity(meeting, room))
        factories.disclosure(person, [(factories.company(), Nature.EMPLOYEE)])
    db.session.commit()
    with statements() as sent:
        html = client.get(url(meeting)).get_data(as_text=True)
    assert "Extra Speaker 19" in html
    assert len(sent) == few
