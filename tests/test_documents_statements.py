"""The public statements come from a fast path (plain rows); they must say exactly what the
rule's full path (``statement_for(states_for(...))``) says, for every assignment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from disclosures.demo import load_demo_meeting
from disclosures.documents import data
from disclosures.enums import AssignmentRole, Nature, StatementKind
from disclosures.extensions import db
from disclosures.largedemo import load_large_meeting
from disclosures.models import Activity, Assignment
from disclosures.state import states_for

from . import factories


def _both_paths(today: date):
    assignments = list(db.session.scalars(
        sa.select(Assignment).join(Assignment.activity)
        .where(Assignment.removed_at.is_(None)).order_by(Activity.starts_at, Assignment.id)
    ))
    fast = data._statements(assignments, today)
    full = {a.id: data.statement_for(s) for a, s in
            zip(assignments, (states_for(assignments, today)[a.id] for a in assignments), strict=True)}
    return fast, full


@pytest.mark.parametrize("meeting", ["demo", pytest.param("large", marks=pytest.mark.slow)])
def test_fast_statements_match_the_rule_in_every_state(app, meeting):
    today = date(2026, 3, 2)
    if meeting == "large":
        load_large_meeting(scale=0.02, today=today, password="demo password 1")
    else:
        load_demo_meeting(today=today, password="demo password 1")
    db.session.commit()
    fast, full = _both_paths(today)
    assert len(fast) >= 60
    assert fast == full
    kinds = {s.kind for s in fast.values()}
    assert kinds == set(StatementKind)
    assert any(s.off_label for s in fast.values())
    # A later day: some disclosures have expired, and both paths must say "under review".
    later_fast, later_full = _both_paths(today + timedelta(days=400))
    assert later_fast == later_full
    assert (sum(s.kind == StatementKind.REVIEW for s in later_fast.values())
            > sum(s.kind == StatementKind.REVIEW for s in fast.values()))


def test_a_determination_about_an_earlier_version_never_reaches_the_sheet(app):
    # Version 1 had a relevant, mitigated relationship; version 2 dropped that company and its
    # new relationship was judged not relevant: the sheet says "none", on both paths.
    reviewer = factories.user()
    meeting = factories.meeting()
    room = factories.room(meeting, "Hall C")
    talk = factories.assignment(factories.user(full_name="Ana Ruiz"),
                                factories.activity(meeting, room), AssignmentRole.SPEAKER)
    old_company, new_company = factories.company("Old Device Co"), factories.company("New Pharma Co")
    first = factories.disclosure(talk.user, [(old_company, Nature.CONSULTANT)],
                                 submitted_at=datetime.now(UTC) - timedelta(days=20))
    factories.mitigation(factories.determination(first.relationships[0], talk, reviewer, relevant=True),
                         reviewer)
    second = factories.disclosure(talk.user, [(new_company, Nature.ADVISOR)])
    factories.determination(second.relationships[0], talk, reviewer, relevant=False)
    db.session.commit()
    today = datetime.now(UTC).date()
    fast, full = _both_paths(today)
    assert fast == full
    assert fast[talk.id] == data.Statement(StatementKind.NONE)
