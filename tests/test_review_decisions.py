"""The per-person review page: determinations, mitigations, refusals, optimistic locking, audit."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from disclosures.enums import AssignmentRole, AssignmentState, MeetingRole, MitigationMethod, Nature
from disclosures.extensions import db
from disclosures.faculty.operations import DisclosureEntry, RelationshipEntry, submit_disclosure
from disclosures.models import AuditEvent, Determination, Mitigation
from disclosures.review import operations as ops

from . import factories
from .sql import statements


@pytest.fixture()
def case(app):
    """A speaker with two relationships in two activities of one meeting, and a reviewer."""
    meeting = factories.meeting(name="Spine Forum 2031")
    room = factories.room(meeting, "Ballroom A")
    fusion = factories.activity(meeting, room, title="Lumbar fusion outcomes", topics=["lumbar fusion", "biologics"])
    billing = factories.activity(meeting, room, title="Coding and billing", topics=["practice management"])
    person = factories.user(full_name="Maria Okafor")
    talk = factories.assignment(person, fusion, AssignmentRole.SPEAKER)
    chair = factories.assignment(person, billing, AssignmentRole.MODERATOR)
    meridian = factories.company("Meridian Spine Technologies")
    summit = factories.company("Summit Pharmaceuticals")
    hospital = factories.company("Lakeside University Hospital", ineligible=False)
    disclosure = factories.disclosure(
        person,
        [(meridian, Nature.CONSULTANT), (summit, Nature.SPEAKER), (hospital, Nature.EMPLOYEE)],
    )
    talk.discusses_off_label = True  # declared for the talk only (per presentation)
    talk.off_label_detail = "Off-label use of rhBMP-2 in the cervical spine."
    reviewer = factories.reviewer(meeting, full_name="Renee Reviewer")
    return {
        "meeting": meeting, "person": person, "talk": talk, "chair": chair, "fusion": fusion,
        "disclosure": disclosure, "meridian_rel": disclosure.relationships[0],
        "summit_rel": disclosure.relationships[1], "hospital_rel": disclosure.relationships[2],
        "reviewer": reviewer,
    }


def page_url(c):
    return f"/review/meetings/{c['meeting'].id}/people/{c['person'].id}"


def decide_url(c, relationship, assignment):
    return f"{page_url(c)}/determinations/{relationship.id}/{assignment.id}"


def decision(relationship, assignment, relevance="relevant", rationale="Sells fusion devices.", version=0,
             disclosure=None):
    """The determination form as the page renders it for ``relationship``'s disclosure version."""
    prefix = f"d{relationship.id}-{assignment.id}"
    return {f"{prefix}-relevance": relevance, f"{prefix}-rationale": rationale, f"{prefix}-version": str(version),
            f"{prefix}-disclosure": str(disclosure or relationship.disclosure_id)}


def mitigation_data(determination, method="peer_review", notes="Slides peer reviewed.", version=None,
                    disclosure=None):
    prefix = f"m{determination.id}"
    return {f"{prefix}-method": method, f"{prefix}-notes": notes,
            f"{prefix}-version": str(determination.id if version is None else version),
            f"{prefix}-disclosure": str(disclosure or determination.relationship.disclosure_id)}


def none_data(disclosure, rationale="Unrelated."):
    """The "none relevant" form as rendered from ``disclosure``."""
    data = {"none-disclosure": str(disclosure.id)}
    if rationale is not None:
        data["none-rationale"] = rationale
    return data


def determinations():
    return db.session.scalars(sa.select(Determination).order_by(Determination.id)).all()


def state(assignment):
    db.session.expire_all()
    return factories.stored_states([assignment])[assignment.id].state


# ------------------------------------------------------------------ access

def test_review_page_requires_login(client, case):
    db.session.commit()
    response = client.get(page_url(case))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_review_page_forbidden_for_faculty(login_as, case):
    other = factories.user(full_name="Plain Faculty")
    response = login_as(other).get(page_url(case))
    assert response.status_code == 403


def test_review_page_missing_person_is_404(login_as, case):
    response = login_as(case["reviewer"]).get(f"/review/meetings/{case['meeting'].id}/people/999999")
    assert response.status_code == 404


def test_review_page_person_without_role_in_meeting_is_404(login_as, case):
    other_meeting = factories.meeting()
    url = f"/review/meetings/{other_meeting.id}/people/{case['person'].id}"
    # Not a reviewer of that meeting: refused before anything about it is said.
    assert login_as(case["reviewer"]).get(url).status_code == 403
    factories.grant(case["reviewer"], other_meeting, MeetingRole.REVIEWER)
    assert login_as(case["reviewer"]).get(url).status_code == 404


def test_review_own_disclosure_is_refused_and_changes_nothing(login_as, case):
    reviewer = factories.reviewer(case["meeting"], full_name="Self Reviewer", cleared=False)
    factories.assignment(reviewer, case["fusion"], AssignmentRole.PANELIST)
    factories.disclosure(reviewer, [(factories.company("Axial Biologics"), Nature.ADVISOR)])
    client = login_as(reviewer)
    url = f"/review/meetings/{case['meeting'].id}/people/{reviewer.id}"
    response = client.get(url)
    assert response.status_code == 403
    assert "You cannot review your own disclosure" in response.get_data(as_text=True)
    relationship = reviewer.disclosures[0].relationships[0]
    assignment = reviewer.assignments[0]
    response = client.post(f"{url}/determinations/{relationship.id}/{assignment.id}",
                           data=decision(relationship, assignment, "not_relevant"))
    assert response.status_code == 403
    assert determinations() == []


def test_review_co_faculty_is_refused_and_changes_nothing(login_as, case):
    colleague = factories.reviewer(case["meeting"], full_name="Colleague Panelist")
    factories.assignment(colleague, case["fusion"], AssignmentRole.PANELIST)
    client = login_as(colleague)
    response = client.get(page_url(case))
    assert response.status_code == 403
    assert "co-faculty with Maria Okafor" in response.get_data(as_text=True)
    response = client.post(decide_url(case, case["meridian_rel"], case["talk"]),
                           data=decision(case["meridian_rel"], case["talk"]))
    assert response.status_code == 403
    response = client.post(f"{page_url(case)}/none-relevant", data=none_data(case["disclosure"]))
    assert response.status_code == 403
    assert determinations() == []


def test_co_faculty_reviewer_cannot_read_the_full_disclosure_either(login_as, case):
    # Not reviewing it, they have no need for the person's financial details: the page
    # and the first slide refuse with the reason; an unrelated reviewer reads both.
    colleague = factories.reviewer(case["meeting"], full_name="Colleague Panelist")
    factories.assignment(colleague, case["fusion"], AssignmentRole.PANELIST)
    urls = (f"/faculty/disclosure/{case['disclosure'].id}", f"/assignments/{case['talk'].id}/slide.pdf")
    for url in urls:
        response = login_as(colleague).get(url)
        assert response.status_code == 403
        assert "co-faculty with Maria Okafor" in response.get_data(as_text=True)
    page = login_as(case["reviewer"]).get(urls[0])
    assert page.status_code == 200
    assert "Meridian Spine Technologies" in page.get_data(as_text=True)
    assert login_as(case["reviewer"]).get(urls[1]).status_code == 200


def test_removed_co_faculty_role_no_longer_blocks_review(login_as, case):
    colleague = factories.reviewer(case["meeting"])
    factories.assignment(colleague, case["fusion"], AssignmentRole.PANELIST, removed_at=datetime.now(UTC))
    assert login_as(colleague).get(page_url(case)).status_code == 200


# ------------------------------------------------------------------ page content

def test_review_page_shows_relationships_topics_and_off_label(login_as, case):
    html = login_as(case["reviewer"]).get(page_url(case)).get_data(as_text=True)
    for text in ("Maria Okafor", "Meridian Spine Technologies", "Summit Pharmaceuticals", "Consultant",
                 "Lumbar fusion outcomes", "lumbar fusion, biologics", "Coding and billing",
                 "Off-label use of rhBMP-2 in the cervical spine.", "Eligible organisation: no decision needed",
                 "Awaiting review"):
        assert text in html
    # 2 ineligible relationships × 2 roles = 4 decision forms; the hospital needs none.
    for rel in (case["meridian_rel"], case["summit_rel"]):
        for assignment in (case["talk"], case["chair"]):
            assert f'name="d{rel.id}-{assignment.id}-relevance"' in html
    assert f"d{case['hospital_rel'].id}-" not in html


def test_review_page_reviews_only_the_latest_version_and_shows_carried_over(login_as, case):
    old_rel = case["meridian_rel"]
    old = factories.determination(old_rel, case["talk"], case["reviewer"], relevant=False)
    newer = factories.disclosure(case["person"], [(old_rel.company, Nature.CONSULTANT),
                                                   (factories.company("Granite Reagents"), Nature.ADVISOR)])
    factories.determination(newer.relationships[0], case["talk"], case["reviewer"], relevant=False,
                            carried_from=old)
    html = login_as(case["reviewer"]).get(page_url(case)).get_data(as_text=True)
    assert "Granite Reagents" in html
    assert "Summit Pharmaceuticals" not in html  # only in version 1
    assert "Carried over from the previous disclosure" in html
    assert f"d{old_rel.id}-" not in html


# ------------------------------------------------------------------ transitions

def test_relevant_determination_needs_mitigation_then_mitigation_clears(login_as, case):
    client = login_as(case["reviewer"])
    talk = case["talk"]
    response = client.post(decide_url(case, case["meridian_rel"], talk), data=decision(case["meridian_rel"], talk))
    assert response.status_code == 302
    assert state(talk) is AssignmentState.AWAITING_REVIEW  # Summit still undecided
    client.post(decide_url(case, case["summit_rel"], talk),
                data=decision(case["summit_rel"], talk, "not_relevant", "Drug maker; talk is on devices."))
    assert state(talk) is AssignmentState.NEEDS_MITIGATION
    determination = db.session.scalar(sa.select(Determination).where(Determination.is_relevant.is_(True)))
    assert determination.reviewer_id == case["reviewer"].id
    response = client.post(f"{page_url(case)}/determinations/{determination.id}/mitigations",
                           data=mitigation_data(determination))
    assert response.status_code == 302
    assert state(talk) is AssignmentState.CLEARED
    mitigation = db.session.scalar(sa.select(Mitigation))
    assert mitigation.recorded_by_id == case["reviewer"].id and mitigation.recorded_at is not None
    html = client.get(page_url(case)).get_data(as_text=True)
    assert "Peer review of content by persons without relevant relationships" in html
    assert "recorded by Renee Reviewer" in html


def test_several_mitigations_can_be_recorded(login_as, case):
    determination = factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=True)
    client = login_as(case["reviewer"])
    url = f"{page_url(case)}/determinations/{determination.id}/mitigations"
    assert client.post(url, data=mitigation_data(determination)).status_code == 302
    assert client.post(url, data=mitigation_data(determination, "attest_evidence", "")).status_code == 302
    methods = db.session.scalars(sa.select(Mitigation.method).order_by(Mitigation.id)).all()
    assert methods == [MitigationMethod.PEER_REVIEW, MitigationMethod.ATTEST_EVIDENCE]


def test_not_relevant_for_every_pair_clears(login_as, case):
    client = login_as(case["reviewer"])
    for rel in (case["meridian_rel"], case["summit_rel"]):
        client.post(decide_url(case, rel, case["chair"]), data=decision(rel, case["chair"], "not_relevant", "Billing talk."))
    assert state(case["chair"]) is AssignmentState.CLEARED
    assert state(case["talk"]) is AssignmentState.AWAITING_REVIEW


def test_none_relevant_records_one_determination_per_undecided_pair(login_as, case):
    decided = factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=True)
    response = login_as(case["reviewer"]).post(
        f"{page_url(case)}/none-relevant", data=none_data(case["disclosure"], "No product in these talks.")
    )
    assert response.status_code == 302
    rows = determinations()
    assert len(rows) == 4  # 2 ineligible relationships × 2 roles; the hospital is not judged
    assert db.session.get(Determination, decided.id).is_relevant is True  # left as it was
    assert sorted(r.is_relevant for r in rows) == [False, False, False, True]
    assert state(case["chair"]) is AssignmentState.CLEARED
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "determination.recorded")).all()
    assert len(events) == 3


@pytest.mark.parametrize("rationale", [" ", None], ids=["blank", "field missing"])
def test_none_relevant_without_rationale_is_400_and_saves_nothing(login_as, case, rationale):
    # No rationale is ever made up for the reviewer: a suggestion is only a placeholder.
    client = login_as(case["reviewer"])
    assert 'name="none-rationale" placeholder="e.g.' in client.get(page_url(case)).get_data(as_text=True)
    response = client.post(f"{page_url(case)}/none-relevant", data=none_data(case["disclosure"], rationale))
    assert response.status_code == 400
    assert "Give the reason none of the relationships is relevant." in response.get_data(as_text=True)
    assert determinations() == []


def test_determination_without_choice_is_400_and_saves_nothing(login_as, case):
    data = decision(case["meridian_rel"], case["talk"], relevance="", rationale="")
    response = login_as(case["reviewer"]).post(decide_url(case, case["meridian_rel"], case["talk"]), data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose “Relevant” or “Not relevant”." in html
    assert "Give the reason in a sentence" in html
    assert determinations() == []


def test_eligible_company_cannot_be_judged(login_as, case):
    response = login_as(case["reviewer"]).post(
        decide_url(case, case["hospital_rel"], case["talk"]), data=decision(case["hospital_rel"], case["talk"])
    )
    assert response.status_code == 404
    assert determinations() == []


def test_mitigation_other_without_notes_is_400(login_as, case):
    determination = factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=True)
    response = login_as(case["reviewer"]).post(
        f"{page_url(case)}/determinations/{determination.id}/mitigations",
        data=mitigation_data(determination, "other", ""),
    )
    assert response.status_code == 400
    assert "Describe the mitigation in the notes" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0


def test_mitigation_of_not_relevant_determination_is_refused(login_as, case):
    determination = factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=False)
    response = login_as(case["reviewer"]).post(
        f"{page_url(case)}/determinations/{determination.id}/mitigations", data=mitigation_data(determination)
    )
    assert response.status_code == 400
    assert "judged not relevant" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0


def test_planner_mitigation_choices_include_recusal(login_as, case):
    planner = factories.assignment(case["person"], case["fusion"], AssignmentRole.PLANNER)
    factories.determination(case["meridian_rel"], planner, case["reviewer"], relevant=True)
    factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=True)
    html = login_as(case["reviewer"]).get(page_url(case)).get_data(as_text=True)
    assert html.count("Recusal from content related to the company") == 1
    assert html.count("Attestation that clinical recommendations") == 1


def test_a_speaker_cannot_be_mitigated_by_recusal_whoever_calls(app, login_as, case):
    """Standard 3 names recusal for planners; faculty are mitigated by peer review,
    attestation, divestment… The rule is the operation's, so a hand-made request and a
    direct call are refused alike, and nothing is recorded."""
    from disclosures.review import operations as review_ops

    determination = factories.determination(case["meridian_rel"], case["talk"], case["reviewer"],
                                            relevant=True)
    db.session.commit()
    response = login_as(case["reviewer"]).post(
        f"{page_url(case)}/determinations/{determination.id}/mitigations",
        data=mitigation_data(determination, method="recuse", notes="Stepped back."))
    assert response.status_code == 400  # the form offers only the role's methods
    subject = review_ops.review_subject(case["person"], case["meeting"])
    with pytest.raises(review_ops.ReviewError, match="not a mitigation Standard 3 names"):
        review_ops.record_mitigation(case["reviewer"], subject, determination,
                                     method=MitigationMethod.RECUSE, notes="x",
                                     seen_determination_id=determination.id,
                                     seen_disclosure_id=case["disclosure"].id)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0


# ------------------------------------------------------------------ optimistic locking

def test_second_reviewer_first_decision_is_refused_with_who_and_when(app, login_as, case):
    other = factories.reviewer(case["meeting"], full_name="Peter Peerson")
    first = login_as(case["reviewer"])
    second = login_as(other, app.test_client())
    rel, talk = case["meridian_rel"], case["talk"]
    assert 'value="0"' in second.get(page_url(case)).get_data(as_text=True)  # both open the page
    assert first.post(decide_url(case, rel, talk), data=decision(rel, talk, "relevant", "Fusion devices.")).status_code == 302
    response = second.post(decide_url(case, rel, talk), data=decision(rel, talk, "not_relevant", "Unrelated."))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed by Renee Reviewer at" in html and "reload" in html
    rows = determinations()
    assert len(rows) == 1 and rows[0].is_relevant is True and rows[0].rationale == "Fusion devices."


def test_second_reviewer_change_is_refused_and_nothing_overwritten(app, login_as, case):
    rel, talk = case["meridian_rel"], case["talk"]
    existing = factories.determination(rel, talk, case["reviewer"], relevant=False, rationale="Unrelated.")
    seen = existing.id
    other = factories.admin(full_name="Carla Staffordson")
    factories.cleared_role(other, case["meeting"], AssignmentRole.CONTENT_STAFF)
    first = login_as(case["reviewer"])
    second = login_as(other, app.test_client())
    assert first.post(decide_url(case, rel, talk),
                      data=decision(rel, talk, "relevant", "On reflection: fusion devices.", seen)).status_code == 302
    response = second.post(decide_url(case, rel, talk), data=decision(rel, talk, "not_relevant", "Staff view.", seen))
    assert response.status_code == 409
    assert "changed by Renee Reviewer at" in response.get_data(as_text=True)
    row = ops.existing_determination(rel, talk)
    assert row.is_relevant is True and row.rationale == "On reflection: fusion devices."
    assert row.reviewer_id == case["reviewer"].id and row.supersedes_id == existing.id
    assert len(determinations()) == 2  # the first decision is kept, superseded


def test_mitigation_against_changed_determination_is_refused(app, login_as, case):
    rel, talk = case["meridian_rel"], case["talk"]
    determination = factories.determination(rel, talk, case["reviewer"], relevant=True)
    seen = determination.id
    client = login_as(case["reviewer"])
    client.post(decide_url(case, rel, talk), data=decision(rel, talk, "not_relevant", "Unrelated after all.", seen))
    response = client.post(f"{page_url(case)}/determinations/{determination.id}/mitigations",
                           data=mitigation_data(determination, version=seen))
    assert response.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0


def test_a_decision_cannot_be_rewritten_even_by_a_raw_statement(app, case):
    """Decisions are records: a change is a new row superseding the old one, and the
    database itself refuses UPDATE and DELETE on the table."""
    rel, talk = case["meridian_rel"], case["talk"]
    determination = factories.determination(rel, talk, case["reviewer"], relevant=False)
    db.session.commit()
    for statement in (sa.update(Determination).where(Determination.id == determination.id)
                      .values(is_relevant=True),
                      sa.delete(Determination).where(Determination.id == determination.id)):
        with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
            conn.execute(statement)
    db.session.expire_all()
    assert db.session.get(Determination, determination.id).is_relevant is False


def test_two_changes_from_the_same_page_keep_one_and_refuse_the_other(app, case):
    """Both reviewers saw the same decision; only one new decision may supersede it."""
    rel, talk = case["meridian_rel"], case["talk"]
    existing = factories.determination(rel, talk, case["reviewer"], relevant=False)
    db.session.commit()
    subject = ops.review_subject(case["person"], case["meeting"])
    ops.record_determination(case["reviewer"], subject, rel, talk, is_relevant=True,
                             rationale="First.", seen_determination_id=existing.id,
                             seen_disclosure_id=rel.disclosure_id)
    db.session.commit()
    with pytest.raises(ops.ReviewConflict):
        ops.record_determination(case["reviewer"], subject, rel, talk, is_relevant=False,
                                 rationale="Second.", seen_determination_id=existing.id,
                                 seen_disclosure_id=rel.disclosure_id)
    db.session.rollback()
    assert ops.existing_determination(rel, talk).rationale == "First."


def test_stale_data_on_flush_is_a_409_not_a_500(login_as, case, monkeypatch):
    rel, talk = case["meridian_rel"], case["talk"]

    def racing(*args, **kwargs):
        raise StaleDataError("UPDATE statement on table 'determination' expected to update 1 row(s)")

    monkeypatch.setattr(ops, "record_determination", racing)
    response = login_as(case["reviewer"]).post(decide_url(case, rel, talk), data=decision(rel, talk))
    assert response.status_code == 409
    assert "reload" in response.get_data(as_text=True)
    assert determinations() == []


# ------------------------------------------------------------------ audit and staff decisions

def test_audit_one_event_per_determination_and_mitigation(login_as, case):
    client = login_as(case["reviewer"])
    rel, talk = case["meridian_rel"], case["talk"]
    client.post(decide_url(case, rel, talk), data=decision(rel, talk, "relevant", "Fusion devices."))
    determination = determinations()[0]
    client.post(f"{page_url(case)}/determinations/{determination.id}/mitigations", data=mitigation_data(determination))
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["determination.recorded", "mitigation.recorded"]
    for event in events:
        assert event.actor_id == case["reviewer"].id
        assert event.subject_user_id == case["person"].id
    assert events[0].object_id == determination.id
    assert events[0].changes["is_relevant"] == {"before": None, "after": True}
    assert events[1].changes["method"] == {"before": None, "after": "peer_review"}


def test_staff_decision_is_a_determination_with_before_and_after(login_as, case):
    rel, talk = case["meridian_rel"], case["talk"]
    existing = factories.determination(rel, talk, case["reviewer"], relevant=False, rationale="Unrelated.")
    staff = factories.admin(full_name="Carla Staffordson")
    factories.cleared_role(staff, case["meeting"], AssignmentRole.CONTENT_STAFF)
    response = login_as(staff).post(decide_url(case, rel, talk),
                                    data=decision(rel, talk, "relevant", "Talk covers their cage.", existing.id))
    assert response.status_code == 302
    row = ops.existing_determination(rel, talk)
    assert row.is_relevant is True and row.reviewer_id == staff.id and row.supersedes_id == existing.id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "determination.changed"))
    assert event.actor_id == staff.id and event.subject_user_id == case["person"].id
    assert event.changes["is_relevant"] == {"before": False, "after": True}
    assert event.changes["reviewer_id"] == {"before": case["reviewer"].id, "after": staff.id}
    assert event.changes["rationale"]["before"] == "Unrelated."


def test_unchanged_resubmission_writes_no_event(login_as, case):
    rel, talk = case["meridian_rel"], case["talk"]
    existing = factories.determination(rel, talk, case["reviewer"], relevant=False, rationale="Unrelated.")
    response = login_as(case["reviewer"]).post(
        decide_url(case, rel, talk), data=decision(rel, talk, "not_relevant", "Unrelated.", existing.id)
    )
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0
    assert [d.id for d in determinations()] == [existing.id]


def test_rationale_never_reaches_the_application_log(login_as, case, caplog):
    rel, talk = case["meridian_rel"], case["talk"]
    login_as(case["reviewer"]).post(decide_url(case, rel, talk), data=decision(rel, talk, "relevant", "SECRET-RATIONALE-42"))
    assert "SECRET-RATIONALE-42" not in caplog.text


def test_review_page_statement_count_does_not_depend_on_decisions_or_deciders(login_as, case):
    """Deciders and mitigation recorders come with the determinations, not one query per person."""
    client = login_as(case["reviewer"])
    client.get(page_url(case))
    with statements() as sent:
        client.get(page_url(case))
    undecided = len(sent)
    pairs = [(case["meridian_rel"], case["talk"]), (case["meridian_rel"], case["chair"]),
             (case["summit_rel"], case["talk"]), (case["summit_rel"], case["chair"])]
    for n, (relationship, assignment) in enumerate(pairs):
        someone = factories.user(full_name=f"Other Reviewer {n}")
        d = factories.determination(relationship, assignment, someone, relevant=n % 2 == 0)
        if d.is_relevant:
            factories.mitigation(d, factories.user(full_name=f"Recorder {n}"))
    db.session.commit()
    with statements() as sent:
        html = client.get(page_url(case)).get_data(as_text=True)
    assert "Other Reviewer 3" in html and "Recorder 2" in html
    assert len(sent) == undecided


# ------------------------------------------------------------------ decisions on the version the reviewer saw

def new_version(case, extra=("Axial Biologics", Nature.ADVISOR), drop=None):
    """The person submits version 2 through the faculty operation: version 1's relationships
    (their review carried over) except ``drop``, and ``extra``."""
    person, seen = case["person"], case["disclosure"]
    rows = [RelationshipEntry(r.company.name, r.nature, r.started_on, r.ended_on, r.ended_on is None)
            for r in seen.relationships if r is not drop]
    if extra is not None:
        rows.append(RelationshipEntry(extra[0], extra[1], date.today() - timedelta(days=30), None, True))
    result = submit_disclosure(person, DisclosureEntry(
        has_relationships=True, relationships=rows, attestation_name=person.full_name,
        attested_complete=True,
    ))
    db.session.commit()
    return result.disclosure


def problem_banner(response) -> str:
    html = response.get_data(as_text=True)
    start = html.index('id="problem"')
    return html[start:html.index("</div>", start)]


def test_every_decision_form_carries_the_disclosure_version_it_shows(login_as, case):
    factories.determination(case["meridian_rel"], case["talk"], case["reviewer"], relevant=True)
    html = login_as(case["reviewer"]).get(page_url(case)).get_data(as_text=True)
    shown = case["disclosure"].id
    for prefix in ("none", f"d{case['summit_rel'].id}-{case['talk'].id}",
                   f"d{case['meridian_rel'].id}-{case['talk'].id}", f"m{determinations()[0].id}"):
        assert f'name="{prefix}-disclosure" type="hidden" value="{shown}"' in html, prefix


def test_none_relevant_from_a_page_opened_before_a_new_relationship_is_409_and_records_nothing(login_as, case):
    client = login_as(case["reviewer"])
    assert client.get(page_url(case)).status_code == 200  # the reviewer opens the page: version 1
    latest = new_version(case)  # the person adds a relationship meanwhile
    before = determinations()  # version 1's (none) and nothing carried
    response = client.post(f"{page_url(case)}/none-relevant", data=none_data(case["disclosure"]))
    assert response.status_code == 409
    banner = problem_banner(response)
    assert ("Nothing was recorded: Maria Okafor submitted a new disclosure (version 2) after you opened "
            "this page on version 1.") in banner
    assert "New relationship: Axial Biologics (advisor," in banner
    assert "Meridian" not in banner and "Summit" not in banner  # unchanged: not listed as new
    assert determinations() == before
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "determination.recorded")) == 0
    # The page now shows version 2, and its forms carry it: sent from there, it is recorded.
    assert f'name="none-disclosure" type="hidden" value="{latest.id}"' in response.get_data(as_text=True)
    response = client.post(f"{page_url(case)}/none-relevant", data=none_data(latest))
    assert response.status_code == 302
    assert len(determinations()) == 3 * 2  # Meridian, Summit, Axial × two roles


def test_single_decision_from_a_page_opened_before_a_new_version_is_409_and_records_nothing(login_as, case):
    client = login_as(case["reviewer"])
    client.get(page_url(case))
    new_version(case)
    rel, talk = case["meridian_rel"], case["talk"]  # version 1's relationship, as the old page has it
    response = client.post(decide_url(case, rel, talk), data=decision(rel, talk, "not_relevant", "Unrelated."))
    assert response.status_code == 409
    assert "New relationship: Axial Biologics (advisor," in problem_banner(response)
    assert determinations() == []


def test_mitigation_from_a_page_opened_before_a_new_version_is_409_and_records_nothing(login_as, case):
    rel, talk = case["meridian_rel"], case["talk"]
    determination = factories.determination(rel, talk, case["reviewer"], relevant=True)
    client = login_as(case["reviewer"])
    client.get(page_url(case))
    new_version(case)  # carries the determination over to version 2 and adds Axial
    response = client.post(f"{page_url(case)}/determinations/{determination.id}/mitigations",
                           data=mitigation_data(determination))
    assert response.status_code == 409
    assert "New relationship: Axial Biologics (advisor," in problem_banner(response)
    assert db.session.scalar(sa.select(sa.func.count(Mitigation.id))) == 0


def test_decision_with_the_latest_ids_but_an_old_version_is_refused_by_the_operation(app, case):
    # Any caller, not only the views: the operations check what the reviewer saw.
    latest = new_version(case)
    subject = ops.review_subject(case["person"], case["meeting"])
    axial = next(r for r in subject.reviewable if r.company.name == "Axial Biologics")
    with pytest.raises(ops.DisclosureChanged) as refused:
        ops.record_none_relevant(case["reviewer"], subject, "Unrelated.", seen_disclosure_id=case["disclosure"].id)
    assert any(line.startswith("New relationship: Axial Biologics") for line in refused.value.changes)
    with pytest.raises(ops.DisclosureChanged):
        ops.record_determination(case["reviewer"], subject, axial, case["talk"], is_relevant=False,
                                 rationale="Unrelated.", seen_determination_id=0, seen_disclosure_id=case["disclosure"].id)
    db.session.rollback()
    assert determinations() == []
    created = ops.record_none_relevant(case["reviewer"], subject, "Unrelated.", seen_disclosure_id=latest.id)
    assert len(created) == 6


def test_changed_and_removed_relationships_are_named_too(login_as, case):
    client = login_as(case["reviewer"])
    client.get(page_url(case))
    person, v1 = case["person"], case["disclosure"]
    summit = case["summit_rel"]
    rows = [RelationshipEntry("Meridian Spine Technologies", Nature.CONSULTANT, case["meridian_rel"].started_on,
                              date.today() - timedelta(days=10), False),  # ended since
            RelationshipEntry("Lakeside University Hospital", Nature.EMPLOYEE, case["hospital_rel"].started_on,
                              None, True)]
    submit_disclosure(person, DisclosureEntry(True, rows, person.full_name, True))
    db.session.commit()
    response = client.post(f"{page_url(case)}/none-relevant", data=none_data(v1))
    assert response.status_code == 409
    banner = problem_banner(response)
    assert "Changed relationship: Meridian Spine Technologies (consultant," in banner
    assert f"No longer disclosed: Summit Pharmaceuticals ({summit.nature.label.lower()}," in banner
    assert "Lakeside" not in banner
    assert determinations() == []


@pytest.mark.parametrize("value", [None, "", "0", "abc", "99999999999999999999"],
                         ids=["missing", "empty", "zero", "text", "huge"])
def test_decision_form_without_a_disclosure_version_is_400_and_records_nothing(login_as, case, value):
    data = none_data(case["disclosure"])
    if value is None:
        del data["none-disclosure"]
    else:
        data["none-disclosure"] = value
    response = login_as(case["reviewer"]).post(f"{page_url(case)}/none-relevant", data=data)
    assert response.status_code == 400
    assert "reload the page and decide again" in problem_banner(response)
    assert determinations() == []
