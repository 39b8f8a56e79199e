"""Staff pages: the company registry and owner/employee decisions.

Companies typed in by faculty arrive ``needs_review``; staff confirm them (ineligible or
eligible), add aliases, or merge duplicates. Owners and employees of ineligible
companies are excluded until staff record which Standard 3 exception applies to each
of their roles. The rules are in ``registry.operations``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from ..enums import OwnerException
from ..extensions import db
from ..handlers import guarded, save
from ..models import (
    Activity,
    Assignment,
    Company,
    CompanyAlias,
    Disclosure,
    Meeting,
    OwnerDecision,
    Relationship,
    User,
    asks_disclosure,
)
from ..permissions import MANAGE_MEETING, MANAGE_REGISTRY, require
from ..state import StateView, judgements
from ..words import plural
from . import operations
from .forms import AliasForm, CompanyFilterForm, ConfirmCompanyForm, MergeForm, OwnerDecisionForm

bp = Blueprint("registry", __name__, url_prefix="/staff")

PAGE_SIZE = 50


def _company_or_404(company_id: int) -> Company:  # aliases loaded
    return db.first_or_404(
        sa.select(Company).where(Company.id == company_id).options(selectinload(Company.aliases))
    )


@bp.route("/companies")
@guarded(MANAGE_REGISTRY)
def companies():
    form = CompanyFilterForm(request.args)
    if not form.validate():
        form = CompanyFilterForm()
    counts = (
        sa.select(Relationship.company_id, sa.func.count(Relationship.id).label("n"))
        .group_by(Relationship.company_id)
        .subquery()
    )
    stmt = (
        sa.select(Company, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.company_id == Company.id)
        .options(selectinload(Company.aliases))
    )
    show = form.show.data or "review"
    if show == "review":
        stmt = stmt.where(Company.needs_review.is_(True))
    elif show == "ineligible":
        stmt = stmt.where(Company.is_ineligible.is_(True))
    elif show == "eligible":
        stmt = stmt.where(Company.is_ineligible.is_(False))
    key = operations.normalise_company_name(form.q.data or "")
    if key:
        alias_match = sa.select(CompanyAlias.company_id).where(
            CompanyAlias.normalized_name.like(f"%{key}%")
        )
        stmt = stmt.where(
            sa.or_(Company.normalized_name.like(f"%{key}%"), Company.id.in_(alias_match))
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    page = form.page.data or 1
    rows = db.session.execute(
        stmt.order_by(Company.needs_review.desc(), Company.name)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    waiting = db.session.scalar(
        sa.select(sa.func.count(Company.id)).where(Company.needs_review.is_(True))
    )
    return render_template(
        "staff/companies.html",
        form=form,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        waiting=waiting,
        show=show,
    )


def _render_company(company: Company, *, confirm=None, alias=None, merge=None, status=200,
                    problem=None, field=None):
    """The company page; a refused change's message goes on ``field`` (the form field it
    concerns), with the refusal's status."""
    if problem is not None:
        status = problem.status
        if field is not None:
            field.errors = [str(problem)]
        else:
            flash(str(problem), "error")
    relationship_count = db.session.scalar(
        sa.select(sa.func.count(Relationship.id)).where(Relationship.company_id == company.id)
    )
    people_count = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Disclosure.user_id)))
        .select_from(Relationship)
        .join(Relationship.disclosure)
        .where(Relationship.company_id == company.id)
    )
    if confirm is None:
        confirm = ConfirmCompanyForm(
            formdata=None,
            name=company.name,
            eligibility="ineligible" if company.is_ineligible else "eligible",
            note=company.note,
        )
    return (
        render_template(
            "staff/company.html",
            company=company,
            relationship_count=relationship_count,
            people_count=people_count,
            confirm_form=confirm,
            alias_form=alias or AliasForm(formdata=None),
            merge_form=merge or MergeForm(formdata=None),
        ),
        status,
    )


@bp.route("/companies/<int:company_id>")
@guarded(MANAGE_REGISTRY, Company)
def company(company: Company):
    return _render_company(company)


@bp.route("/companies/<int:company_id>/confirm", methods=["POST"])
@guarded(MANAGE_REGISTRY, Company)
def company_confirm(company: Company):
    form = ConfirmCompanyForm()
    if not form.validate_on_submit():
        return _render_company(company, confirm=form, status=400)
    save(lambda: operations.confirm_company(
             current_user, company, is_ineligible=form.eligibility.data == "ineligible",
             note=form.note.data, name=form.name.data),
         refused=lambda error: _render_company(
             _reloaded(company), confirm=form, problem=error,
             field=form.name if error.field == "name" else None))
    flash(
        f"{company.name} confirmed as {'ineligible' if company.is_ineligible else 'eligible'}.",
        "success",
    )
    return redirect(url_for("registry.companies"))


@bp.route("/companies/<int:company_id>/aliases", methods=["POST"])
@guarded(MANAGE_REGISTRY, Company)
def company_alias(company: Company):
    form = AliasForm()
    if not form.validate_on_submit():
        return _render_company(company, alias=form, status=400)
    entry = save(lambda: operations.add_alias(current_user, company, form.alias.data),
                 refused=lambda error: _render_company(_reloaded(company), alias=form,
                                                       problem=error, field=form.alias))
    flash(f"“{entry.name}” now matches {company.name}.", "success")
    return redirect(url_for("registry.company", company_id=company.id))


@bp.route("/companies/<int:company_id>/merge", methods=["POST"])
@guarded(MANAGE_REGISTRY, Company)
def company_merge(company: Company):
    form = MergeForm()
    if not form.validate_on_submit():
        return _render_company(company, merge=form, status=400)
    source_name = company.name
    target, moved = save(
        lambda: operations.merge_into(current_user, company, form.target.data),
        refused=lambda error: _render_company(_reloaded(company), merge=form, problem=error,
                                              field=form.target))
    flash(f"{source_name} merged into {target.name}: {plural(moved, 'relationship')} moved; "
          f"“{source_name}” is now an alias.", "success")
    return redirect(url_for("registry.company", company_id=target.id))


def _reloaded(company: Company) -> Company:
    """The company after a rollback (its loaded state expired)."""
    return _company_or_404(company.id)


# --------------------------------------------------------------------------- owners and employees


@dataclass
class OwnerRow:
    """One person in the meeting who owns or works for one ineligible company, and the
    decision in force about them."""

    person: User
    company: Company
    natures: list[str]
    roles: list[Assignment]
    decision: OwnerDecision | None
    refusal: str | None = None  # why the staff member reading the list may not decide


def _owner_rows(meeting: Meeting, person_id: int | None = None) -> list[OwnerRow]:
    """Every (person, company) pair of the meeting where the person is an owner or
    employee of an ineligible company, as judged for their roles (a fixed number of
    queries): who must decide what."""
    stmt = (sa.select(Assignment).outerjoin(Activity, Activity.id == Assignment.activity_id)
            .where(Assignment.meeting_id == meeting.id, Assignment.removed_at.is_(None),
                   asks_disclosure())
            .options(joinedload(Assignment.user), joinedload(Assignment.activity),
                     joinedload(Assignment.meeting))
            .order_by(Activity.starts_at.is_not(None), Activity.starts_at, Assignment.id))
    if person_id is not None:
        stmt = stmt.where(Assignment.user_id == person_id)
    assignments = db.session.scalars(stmt).all()
    judged = judgements([a.id for a in assignments])
    pairs: dict[tuple[int, int], OwnerRow] = {}
    for assignment in assignments:
        for relationship in judged[assignment.id].owners:
            key = (assignment.user_id, relationship.company_id)
            row = pairs.get(key)
            if row is None:
                row = pairs[key] = OwnerRow(assignment.user, db.session.get(Company, relationship.company_id),
                                            [], [], None)
            if relationship.nature.staff_label not in row.natures:
                row.natures.append(relationship.nature.staff_label)
            if assignment not in row.roles:
                row.roles.append(assignment)
    for row in pairs.values():
        row.decision = operations.owner_decision(row.person, row.company)
        row.refusal = operations.owner_decision_refusal(current_user, row.person)
    return sorted(pairs.values(), key=lambda r: (r.person.full_name.casefold(), r.company.name))


@bp.route("/meetings/<int:meeting_id>/owners")
@guarded(MANAGE_MEETING, Meeting)
def owner_decisions(meeting: Meeting):
    rows = _owner_rows(meeting)
    return render_template(
        "staff/owner_decisions.html",
        meeting=meeting,
        rows=rows,
        undecided=sum(1 for row in rows if row.decision is None),
    )


@bp.route("/assignments/<int:assignment_id>/owner", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Assignment)
def owner_decision(assignment: Assignment):
    """The decisions about the person of this role, one per company they own or work for
    (decided once per company, for all their roles)."""
    meeting = assignment.meeting
    rows = _owner_rows(meeting, assignment.user_id)
    sent = OwnerDecisionForm() if request.method == "POST" else None
    # Never about oneself or co-faculty: the page says so and offers no form; a post is 403.
    refusal = operations.owner_decision_refusal(current_user, assignment.user)

    def page(http_status=200, problem_company=None):
        forms = {}
        for row in rows:
            if sent is not None and sent.company_id == row.company.id:
                forms[row.company.id] = sent
            else:
                form = OwnerDecisionForm(formdata=None, data={
                    "company": str(row.company.id),
                    "seen": str(row.decision.id) if row.decision else "0",
                    "exception": row.decision.exception.value if row.decision else None,
                    "note": row.decision.note if row.decision else "",
                })
                forms[row.company.id] = form
        return render_template(
            "staff/owner_decision.html", assignment=assignment, meeting=meeting,
            status=StateView.of(assignment), rows=rows, forms=forms, refusal=refusal,
        ), http_status

    if sent is None:
        return page()
    require(refusal is None, refusal)
    row = next((r for r in rows if r.company.id == sent.company_id), None)
    if row is None:
        abort(400, description="That company is not one this person owns or works for: "
                               "reload the page and decide again.")
    if not sent.validate_on_submit():
        return page(400)

    def refused(error):
        sent.exception.errors = [str(error)]
        return page(error.status)

    save(lambda: operations.record_owner_decision(
             current_user, row.person, row.company, OwnerException(sent.exception.data),
             sent.note.data, seen_decision_id=sent.seen_decision_id),
         refused=refused)
    flash(f"Decision recorded for {row.person.full_name} and {row.company.name}: "
          f"{OwnerException(sent.exception.data).label}.", "success")
    return redirect(url_for("registry.owner_decisions", meeting_id=meeting.id))
