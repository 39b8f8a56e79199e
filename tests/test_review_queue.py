"""The reviewer queue: what awaits a decision, filters, pagination, counts, fixed query count."""

from datetime import UTC, datetime, timedelta

import pytest

from disclosures.enums import AssignmentRole, MeetingRole, Nature
from disclosures.extensions import db

from . import factories
from .sql import statements


@pytest.fixture()
def meeting(app):
    return factories.meeting(name="Spine Forum 2031", days=2)


def disclosed(meeting_, name, *, room=None, days_ago=3, role=AssignmentRole.SPEAKER, day=0, title=None):
    """A person with one relationship awaiting review in one activity."""
    person = factories.user(full_name=name)
    start = datetime.combine(meeting_.starts_on + timedelta(days=day), datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)
    activity = factories.activity(meeting_, room, title=title or f"Talk by {name}", starts_at=start)
    assignment = factories.assignment(person, activity, role)
    factories.disclosure(person, [(factories.company(), Nature.CONSULTANT)],
                         submitted_at=datetime.now(UTC) - timedelta(days=days_ago))
    return person, assignment


def test_queue_lists_awaiting_review_newest_disclosure_first(login_as, meeting):
    disclosed(meeting, "Older Discloser", days_ago=20)
    disclosed(meeting, "Newest Discloser", days_ago=1)
    html = login_as(factories.reviewer(meeting)).get("/review/").get_data(as_text=True)
    assert html.index("Newest Discloser") < html.index("Older Discloser")
    assert "Awaiting review" in html


def test_queue_default_hides_cleared_and_undisclosed(login_as, meeting):
    reviewer = factories.reviewer(meeting)
    disclosed(meeting, "Waiting Person")
    cleared = factories.user(full_name="Cleared Person")
    factories.assignment(cleared, factories.activity(meeting))
    factories.disclosure(cleared, [])
    silent = factories.user(full_name="Silent Person")
    factories.assignment(silent, factories.activity(meeting))
    client = login_as(reviewer)
    html = client.get("/review/").get_data(as_text=True)
    assert "Waiting Person" in html
    assert "Cleared Person" not in html and "Silent Person" not in html
    assert "Cleared Person" in client.get("/review/?state=cleared").get_data(as_text=True)


def test_queue_needs_mitigation_filter(login_as, meeting):
    reviewer = factories.reviewer(meeting)
    person, assignment = disclosed(meeting, "Relevant Person")
    factories.determination(person.disclosures[0].relationships[0], assignment, reviewer, relevant=True)
    disclosed(meeting, "Undecided Person")
    client = login_as(reviewer)
    html = client.get("/review/?state=needs_mitigation").get_data(as_text=True)
    assert "Relevant Person" in html and "Undecided Person" not in html
    html = client.get("/review/?state=awaiting_review").get_data(as_text=True)
    assert "Undecided Person" in html and "Relevant Person" not in html


def test_queue_excluded_pending_filter(login_as, meeting):
    person = factories.user(full_name="Company Employee")
    factories.assignment(person, factories.activity(meeting))
    factories.disclosure(person, [(factories.company(), Nature.EMPLOYEE)])
    disclosed(meeting, "Undecided Person")
    html = login_as(factories.reviewer(meeting)).get("/review/?state=excluded_pending").get_data(as_text=True)
    assert "Company Employee" in html and "Undecided Person" not in html
    assert "staff decision needed" in html


def test_queue_filters_by_meeting_day_room_and_role(login_as, meeting):
    room_a = factories.room(meeting, "Ballroom A")
    room_b = factories.room(meeting, "Room 201")
    disclosed(meeting, "Day One Speaker", room=room_a, day=0)
    disclosed(meeting, "Day Two Speaker", room=room_b, day=1)
    disclosed(meeting, "Day Two Planner", room=room_b, day=1, role=AssignmentRole.PLANNER)
    other = factories.meeting(name="Other Meeting")
    disclosed(other, "Elsewhere Speaker")
    reviewer = factories.reviewer(meeting)
    factories.grant(reviewer, other, MeetingRole.REVIEWER)
    client = login_as(reviewer)
    assert "Elsewhere Speaker" in client.get("/review/").get_data(as_text=True)
    html = client.get(f"/review/?meeting={meeting.id}").get_data(as_text=True)
    assert "Day One Speaker" in html and "Elsewhere Speaker" not in html
    day_two = (meeting.starts_on + timedelta(days=1)).isoformat()
    html = client.get(f"/review/?meeting={meeting.id}&day={day_two}").get_data(as_text=True)
    assert "Day Two Speaker" in html and "Day One Speaker" not in html
    html = client.get(f"/review/?meeting={meeting.id}&room={room_a.id}").get_data(as_text=True)
    assert "Day One Speaker" in html and "Day Two Speaker" not in html
    html = client.get(f"/review/?meeting={meeting.id}&role=planner").get_data(as_text=True)
    assert "Day Two Planner" in html and "Day Two Speaker" not in html


def test_queue_lists_only_the_meetings_the_reviewer_reviews(login_as, meeting):
    disclosed(meeting, "Home Speaker")
    other = factories.meeting(name="Another Society Course")
    disclosed(other, "Foreign Speaker")
    client = login_as(factories.reviewer(meeting))
    html = client.get("/review/").get_data(as_text=True)
    assert "Home Speaker" in html
    assert "Foreign Speaker" not in html and "Another Society Course" not in html
    # Asking for the other meeting by id shows nothing of it either.
    html = client.get(f"/review/?meeting={other.id}").get_data(as_text=True)
    assert "Foreign Speaker" not in html


def test_queue_shows_counts_by_state(login_as, meeting):
    reviewer = factories.reviewer(meeting)
    disclosed(meeting, "First Waiting")
    disclosed(meeting, "Second Waiting")
    person, assignment = disclosed(meeting, "Needs Mitigation")
    factories.determination(person.disclosures[0].relationships[0], assignment, reviewer, relevant=True)
    html = login_as(reviewer).get(f"/review/?meeting={meeting.id}").get_data(as_text=True)
    assert "Awaiting review</span> <strong>2</strong>" in html
    assert "Needs mitigation</span> <strong>1</strong>" in html
    assert "3 assignments shown" in html


def test_queue_bad_filter_is_400_not_500(login_as, app):
    client = login_as(factories.reviewer(factories.meeting()))
    assert client.get("/review/?state=bogus").status_code == 400
    assert client.get("/review/?meeting=abc").status_code == 400
    response = client.get("/review/?page=0")
    assert response.status_code == 400 and "Pages start at 1." in response.get_data(as_text=True)


def test_queue_marks_own_and_co_faculty_rows_without_review_link(login_as, meeting):
    reviewer = factories.reviewer(meeting, full_name="Renee Reviewer")
    colleague, assignment = disclosed(meeting, "Co Faculty")
    factories.assignment(reviewer, assignment.activity, AssignmentRole.MODERATOR)
    factories.disclosure(reviewer, [(factories.company(), Nature.ADVISOR)])
    stranger, _ = disclosed(meeting, "Stranger Person")
    html = login_as(reviewer).get("/review/").get_data(as_text=True)
    assert "Co-faculty: another reviewer decides" in html
    assert "Your own disclosure" in html
    assert f"/people/{colleague.id}" not in html
    assert f"/people/{reviewer.id}" not in html
    assert f"/people/{stranger.id}" in html


def test_queue_paginates(login_as, meeting):
    for n in range(30):
        disclosed(meeting, f"Paged Person {n:02d}", days_ago=n + 1)
    client = login_as(factories.reviewer(meeting))
    first = client.get("/review/").get_data(as_text=True)
    assert "Paged Person 00" in first and "Paged Person 29" not in first
    assert "Page 1 of 2" in first
    second = client.get("/review/?page=2").get_data(as_text=True)
    assert "Paged Person 29" in second and "Paged Person 00" not in second


def count_statements(client, url):
    with statements() as sent:
        response = client.get(url)
    assert response.status_code == 200
    return len(sent)


def test_queue_statement_count_does_not_depend_on_rows(login_as, meeting):
    reviewer = factories.reviewer(meeting)
    room = factories.room(meeting, "Ballroom A")

    def add_people(first, last):
        # The same mix each time: undecided, needs mitigation, cleared by a mitigation.
        for n in range(first, last):
            person, assignment = disclosed(meeting, f"Person {n}", room=room)
            if n % 3 == 0:
                determination = factories.determination(
                    person.disclosures[0].relationships[0], assignment, reviewer, relevant=True
                )
                if n % 2 == 0:
                    factories.mitigation(determination, reviewer)

    add_people(0, 5)
    client = login_as(reviewer)
    few = count_statements(client, "/review/?state=all")
    add_people(5, 50)
    db.session.commit()
    many = count_statements(client, "/review/?state=all")
    assert few == many
    assert "Person 49" in client.get("/review/?state=all").get_data(as_text=True)
