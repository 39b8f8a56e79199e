"""Staff pages: the company registry and owner/employee decisions.

Companies typed in by faculty arrive ``needs_review``; staff confirm them (ineligible or
eligible), add aliases, or merge duplicates. Owners and employees of ineligible
companies are excluded until staff record which Standard 3 exception applies to each
of their roles. The rules are in ``registry.operations``.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
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
    Relationship,
)
from ..permissions import MANAGE_MEETING, MANAGE_REGISTRY
from ..state import states_for
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
             note=form.note.data),
         refused=lambda error: _render_company(_reloaded(company), confirm=form, problem=error))
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


def _owner_rows(meeting: Meeting, today: date):
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Assignment.activity)
        .where(Activity.meeting_id == meeting.id, Assignment.removed_at.is_(None))
        .options(
            joinedload(Assignment.user),
            joinedload(Assignment.activity).joinedload(Activity.room),
            joinedload(Assignment.owner_decided_by),
        )
        .order_by(Activity.starts_at, Assignment.id)
    ).all()
    statuses = states_for(assignments, today)
    return [(a, statuses[a.id]) for a in assignments if statuses[a.id].owner_or_employee]


@bp.route("/meetings/<int:meeting_id>/owners")
@guarded(MANAGE_MEETING, Meeting)
def owner_decisions(meeting: Meeting):
    rows = _owner_rows(meeting, date.today())
    return render_template(
        "staff/owner_decisions.html",
        meeting=meeting,
        rows=rows,
        undecided=sum(1 for a, _ in rows if a.owner_exception is None),
    )


@bp.route("/assignments/<int:assignment_id>/owner", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Assignment)
def owner_decision(assignment: Assignment):
    status = states_for([assignment], date.today())[assignment.id]
    form = OwnerDecisionForm(
        data={
            "exception": assignment.owner_exception.value if assignment.owner_exception else None,
            "note": assignment.owner_decision_note or "",
        }
        if request.method == "GET"
        else None
    )

    def page(http_status=200):
        return render_template(
            "staff/owner_decision.html",
            assignment=assignment,
            meeting=assignment.activity.meeting,
            status=status,
            form=form,
        ), http_status

    if not form.validate_on_submit():
        return page(400 if form.errors else 200)

    def refused(error):
        form.exception.errors = [str(error)]
        return page(error.status)

    save(lambda: operations.record_owner_decision(
             current_user, assignment, OwnerException(form.exception.data), form.note.data),
         refused=refused)
    flash(f"Decision recorded for {assignment.user.full_name}: "
          f"{assignment.owner_exception.label}.", "success")
    return redirect(url_for("registry.owner_decisions", meeting_id=assignment.activity.meeting_id))
