"""Reviewers: queue, per-person review, determinations and mitigations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

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

from .. import clock
from ..enums import AssignmentRole, AssignmentState, MeetingRole, OwnerException
from ..errors import Conflict
from ..extensions import db
from ..handlers import guarded, save, signed_in
from ..models import (
    Activity,
    Assignment,
    Determination,
    Disclosure,
    Meeting,
    Membership,
    OwnerDecision,
    User,
    asks_disclosure,
)
from ..models.base import in_force
from ..openpayments.views import review_panel
from ..permissions import (
    REVIEW_ANYWHERE,
    REVIEW_MEETING,
    can_review,
    conflict_refusal,
    conflicted_companies,
    decision_refusal,
    meetings_where,
    require,
    review_refusal,
)
from ..state import STATE_CSS, StateView, state_counts
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


def _page_args(page: int) -> dict:
    return {**request.args.to_dict(), "page": page}


def _state_filter(wanted: str):
    """The SQL condition of the queue's state filter."""
    if wanted == STATE_ALL:
        return sa.true()
    if wanted == STATE_NEEDS_ACTION:
        return Assignment.state.in_(NEEDS_ACTION)
    if wanted == STATE_EXCLUDED_PENDING:
        return Assignment.state == AssignmentState.AWAITING_OWNER_DECISION
    return Assignment.state == AssignmentState(wanted)


@bp.route("/")
@guarded(REVIEW_ANYWHERE)
def queue():
    """Roles awaiting a decision, newest disclosure first, 25 a page.

    States are stored (``Assignment.state``): the database filters, counts, sorts and
    pages them; only the rows shown become objects. Three queries whatever the meeting.
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

    conditions = [
        Assignment.removed_at.is_(None),
        Assignment.meeting_id.in_(reviewable),
        asks_disclosure(),
        Assignment.state_disclosure_id.is_not(None),  # disclosed before the session
    ]
    if selected is not None:
        conditions.append(Assignment.meeting_id == selected.id)
        if form.day_date is not None:
            start = datetime.combine(form.day_date, time.min, tzinfo=selected.tz).astimezone(UTC)
            end = datetime.combine(form.day_date + timedelta(days=1), time.min, tzinfo=selected.tz)
            conditions += [Activity.starts_at >= start, Activity.starts_at < end.astimezone(UTC)]
        if form.room_id is not None:
            conditions.append(Activity.room_id == form.room_id)
    if form.role.data:
        conditions.append(Assignment.role == AssignmentRole(form.role.data))
    counts = state_counts([])
    for state, n in db.session.execute(
        sa.select(Assignment.state, sa.func.count(Assignment.id))
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .where(*conditions).group_by(Assignment.state)
    ):
        counts[state] = n
    matching = [*conditions, _state_filter(form.state.data)]
    total = db.session.scalar(
        sa.select(sa.func.count(Assignment.id))
        .outerjoin(Activity, Activity.id == Assignment.activity_id).where(*matching))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(form.page.data or 1, pages)
    shown = db.session.execute(
        sa.select(Assignment, Disclosure.submitted_at)
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .join(Disclosure, Disclosure.id == Assignment.state_disclosure_id)
        .where(*matching)
        .options(
            joinedload(Assignment.user),
            joinedload(Assignment.activity).joinedload(Activity.room),
            joinedload(Assignment.meeting),
        )
        .order_by(Disclosure.submitted_at.desc(), Activity.starts_at.is_not(None),
                  Activity.starts_at, Assignment.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).unique().all()
    rows = [(a, StateView.of(a, submitted)) for a, submitted in shown]
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


def _require_may_decide(subject: ops.ReviewSubject, *company_ids: int) -> None:
    """403 (nothing recorded) unless the reviewer's own disclosure for the meeting is
    current and reviewed (a cleared meeting-level role), and they have no relationship of
    their own with any of ``company_ids`` (ACCME Standard 3: reviewers disclose too)."""
    refusal = decision_refusal(current_user, subject.meeting)
    require(refusal is None, refusal)
    conflicts = conflicted_companies(current_user, subject.meeting)
    for company_id in company_ids:
        refusal = conflict_refusal(current_user, company_id, subject.meeting, conflicts)
        require(refusal is None, refusal)


def _who_else_can(subject: ops.ReviewSubject, company_ids: set[int]) -> dict[int, list[User]]:
    """For each company: the meeting's reviewers and staff (other than the one reading) who
    may review this person, may record decisions, and have no relationship with it."""
    if not company_ids:
        return {}
    candidates = db.session.scalars(
        sa.select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.meeting_id == subject.meeting.id, Membership.revoked_at.is_(None),
               Membership.role.in_([MeetingRole.REVIEWER, MeetingRole.STAFF]),
               User.id != current_user.id, User.is_active.is_(True))
        .order_by(User.full_name).distinct()
    ).all()
    able = [u for u in candidates if can_review(u, subject.person, subject.meeting)
            and decision_refusal(u, subject.meeting) is None]
    conflicts = {u.id: conflicted_companies(u, subject.meeting) for u in able}
    return {company_id: [u for u in able if company_id not in conflicts[u.id]]
            for company_id in company_ids}


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
    # The decisions in force, with who decided and who recorded each mitigation (the page
    # names them: loaded together, not one query per person). States are stored.
    found = ops.decisions_with_people(
        [r.id for r in subject.reviewable], [a.id for a in subject.assignments])
    statuses = {a.id: StateView.of(a) for a in subject.assignments}
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
                    form.version.data = str(determination.id)
            mitigation_form = None
            if determination is not None and determination.is_relevant:
                mprefix = f"m{determination.id}"
                mitigation_form = submitted.get(mprefix)
                if mitigation_form is None:
                    mitigation_form = MitigationForm(formdata=None, prefix=mprefix, role=assignment.role)
                    mitigation_form.version.data = str(determination.id)
                    mitigation_form.disclosure.data = shown_id
                    mitigation_form.in_place_on.data = clock.meeting_today(subject.meeting)
            pairs[(relationship.id, assignment.id)] = {
                "determination": determination,
                "form": form,
                "mitigation_form": mitigation_form,
            }
    undecided = sum(1 for pair in pairs.values() if pair["determination"] is None)
    # The reader's own standing: their disclosure must be cleared, and they decide nothing
    # about a company they have a relationship with (the page says who else can).
    own_refusal = decision_refusal(current_user, subject.meeting)
    mine = conflicted_companies(current_user, subject.meeting)
    conflicts = {r.id: conflict_refusal(current_user, r.company_id, subject.meeting, mine)
                 for r in subject.reviewable}
    others = _who_else_can(subject, {r.company_id for r in subject.reviewable
                                     if conflicts[r.id]})
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
        # company id -> the owner/employee decision in force about this person
        owner_exceptions=dict(db.session.execute(
            sa.select(OwnerDecision.company_id, OwnerDecision.exception)
            .where(OwnerDecision.user_id == subject.person.id, in_force(OwnerDecision))).all()),
        own_refusal=own_refusal,
        own_disclosure_url=url_for("faculty.home"),
        conflicts=conflicts,
        others=others,
        open_payments=review_panel(subject.person, subject.meeting, subject.disclosure),
    ), status


def _back(subject: ops.ReviewSubject, anchor: str | None = None):
    return redirect(
        url_for("review.person", meeting_id=subject.meeting.id, user_id=subject.person.id, _anchor=anchor)
    )


def _conflict_message(meeting: Meeting, relationship_id=None, assignment_id=None) -> str:
    message = ops.conflict_message(None, None)
    if relationship_id is not None:
        latest = ops.current_decisions([relationship_id], [assignment_id]).get(
            (relationship_id, assignment_id))
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

    # Run once more after a concurrent write (a decision saved, a role's state or a sheet
    # version written by someone else at the same moment): the operation then sees it,
    # and succeeds or says who decided first.
    return save(operation, refused=refused, retry_on_duplicate=True)


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
    _require_may_decide(subject, relationship.company_id)
    if not form.validate_on_submit():
        return _invalid(subject, prefix, form, "The decision was not saved")
    before = ops.existing_determination(relationship, assignment)
    previous_reviewer = before.reviewer if before is not None else None
    saved = _save(
        meeting_id, user_id,
        lambda: ops.record_determination(
            current_user, subject, relationship, assignment,
            is_relevant=form.is_relevant, rationale=form.rationale.data,
            seen_determination_id=form.seen_version,
            seen_disclosure_id=form.seen_disclosure_id,
        ),
        pair=(relationship_id, assignment_id),
    )
    if saved is None:
        flash("Nothing changed: the decision is as it was.", "info")
    elif before is None:
        flash(f"Decision recorded: {relationship.company.name} is "
              f"{'relevant' if saved.is_relevant else 'not relevant'} to {assignment.title}.",
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
    # Every relationship still undecided for some role is decided by this shortcut.
    decided = ops.decisions_with_people([r.id for r in subject.reviewable],
                                        [a.id for a in subject.assignments])
    _require_may_decide(subject, *{r.company_id for r in subject.reviewable
                                   if any((r.id, a.id) not in decided for a in subject.assignments)})
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
    _require_may_decide(subject, determination.relationship.company_id)
    if not form.validate_on_submit():
        return _invalid(subject, prefix, form, "The mitigation was not saved")
    pair = (determination.relationship_id, determination.assignment_id)
    mitigation, created = _save(
        meeting_id, user_id,
        lambda: ops.record_mitigation(
            current_user, subject, determination,
            method=form.method_enum, notes=form.notes.data, seen_determination_id=form.seen_version,
            seen_disclosure_id=form.seen_disclosure_id, in_place_on=form.in_place_on.data,
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
