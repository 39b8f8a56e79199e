"""Reviewers: queue, per-person review, determinations and mitigations."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import aliased, joinedload

from ..enums import AssignmentRole, AssignmentState, OwnerException
from ..errors import Conflict
from ..extensions import db
from ..handlers import guarded, save, signed_in
from ..models import Activity, Assignment, Determination, Disclosure, Meeting, User
from ..permissions import REVIEW_ANYWHERE, REVIEW_MEETING, meetings_where, require, review_refusal
from ..state import STATE_CSS, determinations_for, state_counts, states_for, summaries_for
from ..words import plural
from . import operations as ops
from .forms import (
    STATE_ALL,
    STATE_EXCLUDED_PENDING,
    STATE_NEEDS_ACTION,
    DeterminationForm,
    MitigationForm,
    NoneRelevantForm,
    QueueFilterForm,
)

bp = Blueprint("review", __name__, url_prefix="/review")

PAGE_SIZE = 25
NEEDS_ACTION = {AssignmentState.AWAITING_REVIEW, AssignmentState.NEEDS_MITIGATION}


# --------------------------------------------------------------------------- queue

def _co_faculty_ids(user_id: int) -> set[int]:
    """People who share a current activity with ``user_id`` (one query)."""
    mine = aliased(Assignment)
    theirs = aliased(Assignment)
    stmt = (
        sa.select(theirs.user_id)
        .select_from(mine)
        .join(theirs, theirs.activity_id == mine.activity_id)
        .where(mine.user_id == user_id, mine.removed_at.is_(None), theirs.removed_at.is_(None))
        .distinct()
    )
    return set(db.session.scalars(stmt))


def _matches_state(assignment, status, wanted: str) -> bool:
    if wanted == STATE_ALL:
        return True
    if wanted == STATE_NEEDS_ACTION:
        return status.state in NEEDS_ACTION
    if wanted == STATE_EXCLUDED_PENDING:
        return status.state is AssignmentState.EXCLUDED and assignment.owner_exception is None
    return status.state.value == wanted


def _page_args(page: int) -> dict:
    return {**request.args.to_dict(), "page": page}


def _newest_disclosure_first(row) -> tuple:
    """Sort key of the queue: newest disclosure first, then activity start, then id."""
    candidate, status = row
    submitted = status.disclosure_submitted_at
    return (-(submitted.timestamp() if submitted else 0), candidate.starts_at, candidate.id)


@bp.route("/")
@guarded(REVIEW_ANYWHERE)
def queue():
    """Assignments awaiting a decision, newest disclosure first.

    The state is derived, so the page reads every assignment matching the SQL
    filters as plain rows (id, person, exception, start), computes their states
    with ``summaries_for`` (two queries, plain tuples), filters, counts, sorts and
    paginates in memory, then loads the objects of the one page shown (one query).
    The number of statements does not depend on the number of rows.
    """
    reviewable = meetings_where(current_user, REVIEW_MEETING)
    meetings = db.session.scalars(
        sa.select(Meeting).where(Meeting.id.in_(reviewable)).order_by(Meeting.starts_on.desc())
    ).all()
    form = QueueFilterForm(formdata=request.args, meetings=meetings)
    selected = next((m for m in meetings if str(m.id) == form.meeting.data), None)
    form = QueueFilterForm(formdata=request.args, meetings=meetings, meeting=selected)
    if not form.validate():
        return render_template(
            "review/queue.html", form=form, rows=[], counts={}, total=0, page=1, pages=1,
            states=AssignmentState, co_faculty=set(), page_args=_page_args, state_css=STATE_CSS,
        ), 400

    stmt = (
        sa.select(
            Assignment.id, Assignment.user_id, Assignment.owner_exception, Activity.starts_at
        )
        .join(Assignment.activity)
        .where(
            Assignment.removed_at.is_(None),
            Activity.meeting_id.in_(reviewable),
            # EXISTS, not IN (SELECT …): SQLite plans the IN list as one probe per
            # (activity, person) pair, 170 ms at 2,000 people; EXISTS is one index probe per row.
            sa.exists().where(Disclosure.user_id == Assignment.user_id),
        )
    )
    if selected is not None:
        stmt = stmt.where(Activity.meeting_id == selected.id)
        if form.day_date is not None:
            start = datetime.combine(form.day_date, time.min, tzinfo=selected.tz).astimezone(UTC)
            end = datetime.combine(form.day_date + timedelta(days=1), time.min, tzinfo=selected.tz)
            stmt = stmt.where(Activity.starts_at >= start, Activity.starts_at < end.astimezone(UTC))
        if form.room_id is not None:
            stmt = stmt.where(Activity.room_id == form.room_id)
    if form.role.data:
        stmt = stmt.where(Assignment.role == AssignmentRole(form.role.data))
    candidates = db.session.execute(stmt).all()
    statuses = summaries_for(candidates, date.today())

    counts = state_counts(statuses.values())
    wanted = form.state.data
    matching = [(c, statuses[c.id]) for c in candidates if _matches_state(c, statuses[c.id], wanted)]
    total = len(matching)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(form.page.data or 1, pages)
    matching.sort(key=_newest_disclosure_first)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    # Only the page's rows become objects (always one query, even for an empty page).
    loaded = {
        a.id: a
        for a in db.session.scalars(
            sa.select(Assignment)
            .where(Assignment.id.in_([c.id for c, _ in shown]))
            .options(
                joinedload(Assignment.user),
                joinedload(Assignment.activity).joinedload(Activity.room),
                joinedload(Assignment.activity).joinedload(Activity.meeting),
            )
        ).unique()
    }
    rows = [(loaded[c.id], status) for c, status in shown]
    return render_template(
        "review/queue.html",
        form=form,
        rows=rows,
        counts=counts,
        total=total,
        page=page,
        pages=pages,
        states=AssignmentState,
        co_faculty=_co_faculty_ids(current_user.id) | {current_user.id},
        page_args=_page_args,
        state_css=STATE_CSS,
    )


# --------------------------------------------------------------------------- person

def _load_subject(meeting_id: int, user_id: int) -> ops.ReviewSubject:
    """404 for a missing meeting or person, 403 (with the reason) when the reviewer may not review."""
    meeting = db.get_or_404(Meeting, meeting_id)
    person = db.get_or_404(User, user_id)
    refusal = review_refusal(current_user, person, meeting)
    require(refusal is None, refusal)
    subject = ops.review_subject(person, meeting)
    if not subject.assignments:
        abort(404, description=f"{person.full_name} has no current role in {meeting.name}.")
    return subject


def _pair_prefix(relationship_id: int, assignment_id: int) -> str:
    return f"d{relationship_id}-{assignment_id}"


def _render_person(subject: ops.ReviewSubject, *, submitted=None, problem: str | None = None,
                   changes: list[str] | None = None, status: int = 200):
    """The review page; ``submitted`` replaces one form by the one the reviewer sent (with errors).

    Every decision form carries the id of the disclosure version shown (the forms sent
    back keep the one the reviewer saw). ``changes`` lists what is new in that version
    when a decision was refused because the reviewer had seen an older one.
    """
    submitted = submitted or {}
    shown_id = str(subject.disclosure.id) if subject.disclosure is not None else ""
    # Deciders and mitigation recorders loaded with the determinations: the page names
    # them, and lazy loading cost one query per distinct person (11 statements at the
    # demo, 18 for the busiest person of the large meeting). The states reuse both loads.
    found = determinations_for(
        [a.id for a in subject.assignments], [r.id for r in subject.reviewable], with_people=True
    )
    statuses = states_for(
        subject.assignments,
        date.today(),
        disclosures={} if subject.disclosure is None else {subject.person.id: subject.disclosure},
        determinations=found,
    )
    pairs = {}
    for relationship in subject.reviewable:
        for assignment in subject.assignments:
            determination = found.get((relationship.id, assignment.id))
            prefix = _pair_prefix(relationship.id, assignment.id)
            form = submitted.get(prefix)
            if form is None:
                form = DeterminationForm(formdata=None, prefix=prefix)
                form.disclosure.data = shown_id
                if determination is not None:
                    form.relevance.data = "relevant" if determination.is_relevant else "not_relevant"
                    form.rationale.data = determination.rationale
                    form.version.data = str(determination.version_id)
            mitigation_form = None
            if determination is not None and determination.is_relevant:
                mprefix = f"m{determination.id}"
                mitigation_form = submitted.get(mprefix)
                if mitigation_form is None:
                    mitigation_form = MitigationForm(formdata=None, prefix=mprefix, role=assignment.role)
                    mitigation_form.version.data = str(determination.version_id)
                    mitigation_form.disclosure.data = shown_id
            pairs[(relationship.id, assignment.id)] = {
                "determination": determination,
                "form": form,
                "mitigation_form": mitigation_form,
            }
    undecided = sum(1 for pair in pairs.values() if pair["determination"] is None)
    none_form = submitted.get("none")
    if none_form is None:
        none_form = NoneRelevantForm(formdata=None, prefix="none")
        none_form.disclosure.data = shown_id
    return render_template(
        "review/person.html",
        subject=subject,
        meeting=subject.meeting,
        person=subject.person,
        disclosure=subject.disclosure,
        statuses=statuses,
        pairs=pairs,
        undecided=undecided,
        none_form=none_form,
        problem=problem,
        changes=changes,
        OwnerException=OwnerException,
    ), status


def _back(subject: ops.ReviewSubject, anchor: str | None = None):
    return redirect(
        url_for("review.person", meeting_id=subject.meeting.id, user_id=subject.person.id, _anchor=anchor)
    )


def _conflict_message(meeting: Meeting, relationship_id=None, assignment_id=None) -> str:
    message = ops.conflict_message(None, None)
    if relationship_id is not None:
        latest = db.session.scalar(
            sa.select(Determination).where(
                Determination.relationship_id == relationship_id,
                Determination.assignment_id == assignment_id,
            )
        )
        if latest is not None:
            message = ops.conflict_message(latest.reviewer, latest.decided_at, meeting)
    return message


def _save(meeting_id: int, user_id: int, operation, *, pair=(None, None), again_on_duplicate=False):
    """``handlers.save`` with the review page as the answer to a refusal: reloaded after
    the rollback, the reason on top (what changed since the version the reviewer saw,
    for ``DisclosureChanged``; who saved ``pair`` first, for a concurrent save)."""

    def refused(error):
        subject = _load_subject(meeting_id, user_id)
        problem = str(error)
        if isinstance(error, Conflict) and not isinstance(error, ops.ReviewConflict):
            problem = _conflict_message(subject.meeting, *pair)
        return _render_person(subject, problem=problem, status=error.status,
                              changes=getattr(error, "changes", None))

    return save(operation, refused=refused, retry_on_duplicate=again_on_duplicate)


def _invalid(subject: ops.ReviewSubject, prefix: str, form, what: str):
    """400: the page with the form as sent; a bad hidden field (an out-of-date form) is named on top."""
    hidden = [e for f in form if f.type == "HiddenField" for e in f.errors]
    problem = hidden[0] if hidden else f"{what}: correct the form marked below."
    return _render_person(subject, submitted={prefix: form}, status=400, problem=problem)


def _refuse_if_disclosure_changed(subject: ops.ReviewSubject, form) -> None:
    """A form for a relationship of an older disclosure version: 409 with what is new since."""
    try:
        ops.check_seen_disclosure(subject, form.seen_disclosure_id)
    except ops.DisclosureChanged as exc:
        abort(make_response(_render_person(subject, problem=str(exc), changes=exc.changes, status=409)))
    except ops.ReviewError:
        pass


@bp.route("/meetings/<int:meeting_id>/people/<int:user_id>")
@signed_in
def person(meeting_id: int, user_id: int):
    subject = _load_subject(meeting_id, user_id)
    return _render_person(subject)


@bp.route(
    "/meetings/<int:meeting_id>/people/<int:user_id>/determinations/<int:relationship_id>/<int:assignment_id>",
    methods=["POST"],
)
@signed_in
def decide(meeting_id: int, user_id: int, relationship_id: int, assignment_id: int):
    subject = _load_subject(meeting_id, user_id)
    prefix = _pair_prefix(relationship_id, assignment_id)
    form = DeterminationForm(prefix=prefix)
    relationship = subject.relationship(relationship_id)
    assignment = subject.assignment(assignment_id)
    if relationship is None or assignment is None:
        # A page opened before a new version was submitted names that version's relationships.
        _refuse_if_disclosure_changed(subject, form)
        abort(404, description="This relationship or role is not part of the person's current review.")
    if not form.validate_on_submit():
        return _invalid(subject, prefix, form, "The decision was not saved")
    before = ops.existing_determination(relationship, assignment)
    previous_reviewer = before.reviewer if before is not None else None
    saved = _save(
        meeting_id, user_id,
        lambda: ops.record_determination(
            current_user, subject, relationship, assignment,
            is_relevant=form.is_relevant, rationale=form.rationale.data, seen_version=form.seen_version,
            seen_disclosure_id=form.seen_disclosure_id,
        ),
        pair=(relationship_id, assignment_id),
    )
    if saved is None:
        flash("Nothing changed: the decision is as it was.", "info")
    elif before is None:
        flash(f"Decision recorded: {relationship.company.name} is "
              f"{'relevant' if saved.is_relevant else 'not relevant'} to {assignment.activity.title}.",
              "success")
    else:
        who = "" if previous_reviewer is None or previous_reviewer.id == current_user.id \
            else f" (it was decided by {previous_reviewer.full_name}; the change is in the audit log)"
        flash(f"Decision changed{who}.", "success")
    return _back(subject, f"pair-{relationship_id}-{assignment_id}")


@bp.route("/meetings/<int:meeting_id>/people/<int:user_id>/none-relevant", methods=["POST"])
@signed_in
def none_relevant(meeting_id: int, user_id: int):
    subject = _load_subject(meeting_id, user_id)
    form = NoneRelevantForm(prefix="none")
    if not form.validate_on_submit():
        return _invalid(subject, "none", form, "Nothing was recorded")
    created = _save(
        meeting_id, user_id,
        lambda: ops.record_none_relevant(
            current_user, subject, form.rationale.data, seen_disclosure_id=form.seen_disclosure_id
        ),
    )
    if created:
        flash(f"Recorded “not relevant” for {plural(len(created), 'undecided pair')}.", "success")
    else:
        flash("Every pair was already decided: nothing was recorded.", "info")
    return _back(subject)


@bp.route(
    "/meetings/<int:meeting_id>/people/<int:user_id>/determinations/<int:determination_id>/mitigations",
    methods=["POST"],
)
@signed_in
def mitigate(meeting_id: int, user_id: int, determination_id: int):
    subject = _load_subject(meeting_id, user_id)
    determination = db.get_or_404(Determination, determination_id)
    prefix = f"m{determination.id}"
    form = MitigationForm(prefix=prefix, role=determination.assignment.role)
    if (subject.relationship(determination.relationship_id) is None
            or subject.assignment(determination.assignment_id) is None):
        _refuse_if_disclosure_changed(subject, form)
        abort(404, description="This decision is not part of the person's current review.")
    if not form.validate_on_submit():
        return _invalid(subject, prefix, form, "The mitigation was not saved")
    pair = (determination.relationship_id, determination.assignment_id)
    mitigation, created = _save(
        meeting_id, user_id,
        lambda: ops.record_mitigation(
            current_user, subject, determination,
            method=form.method_enum, notes=form.notes.data, seen_version=form.seen_version,
            seen_disclosure_id=form.seen_disclosure_id,
        ),
        pair=pair,
        # The same mitigation sent twice at once: the second finds the first and succeeds.
        again_on_duplicate=True,
    )
    company = determination.relationship.company.name
    if created:
        flash(f"Mitigation recorded for {company}.", "success")
    else:
        flash(f"This mitigation for {company} was already recorded by {mitigation.recorded_by.full_name} "
              f"on {subject.meeting.local(mitigation.recorded_at).strftime('%b %-d, %Y %-I:%M %p %Z')}: "
              "nothing was added.", "info")
    return _back(subject, f"pair-{pair[0]}-{pair[1]}")
