"""The published statement of every role says exactly what the rule says about it, judged
from scratch as of its session: the record is the rule's output, never a second copy of it."""

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
from disclosures.publication.operations import statement_data
from disclosures.state import judgements

from . import factories


def _published_and_judged():
    assignments = list(db.session.scalars(
        sa.select(Assignment).join(Assignment.activity)
        .where(Assignment.removed_at.is_(None)).order_by(Activity.starts_at, Assignment.id)
    ))
    judged = judgements([a.id for a in assignments])
    published = {a.id: a.statement.data for a in assignments}
    rule = {a.id: statement_data(a, judged[a.id]) for a in assignments}
    return published, rule


@pytest.mark.parametrize("meeting", ["demo", pytest.param("large", marks=pytest.mark.slow)])
def test_published_statements_match_the_rule_in_every_state(app, meeting):
    today = date(2026, 3, 2)
    if meeting == "large":
        load_large_meeting(scale=0.02, today=today, password="demo password 1")
    else:
        load_demo_meeting(password="demo password 1")
    db.session.commit()
    published, rule = _published_and_judged()
    assert len(published) >= 60
    assert published == rule
    kinds = {data.statement_of(d).kind for d in published.values()}
    assert kinds == set(StatementKind)
    assert any(d["off_label"] for d in published.values())


def test_a_determination_about_an_earlier_version_never_reaches_the_sheet(app):
    # Version 1 had a relevant, mitigated relationship; version 2 dropped that company and its
    # new relationship was judged not relevant: the sheet says "none".
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
    published, rule = _published_and_judged()
    assert published == rule
    assert data.statement_of(published[talk.id]).kind is StatementKind.NONE
    assert "Old Device Co" not in talk.statement.words
