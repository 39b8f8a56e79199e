"""Staff pages: the company registry and owner/employee decisions. Routes register on the
staff blueprint.

Companies typed in by faculty arrive ``needs_review``; staff confirm them
(ineligible or eligible), add aliases, or merge duplicates. Owners and employees
of ineligible companies are excluded until staff record which Standard 3
exception applies to each of their roles. The rules are in
``disclosures.faculty.operations``.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from ..enums import OwnerException, Role
from ..extensions import db
from ..faculty import operations
from ..faculty.forms import (
    AliasForm,
    CompanyFilterForm,
    ConfirmCompanyForm,
    MergeForm,
    OwnerDecisionForm,
)
from ..models import (
    Activity,
    Assignment,
    Company,
    CompanyAlias,
    Disclosure,
    Meeting,
    Relationship,
)
from ..permissions import role_required
from ..state import states_for
from .views import bp

PAGE_SIZE = 50


def _company_or_404(company_id: int) -> Company:
    return db.first_or_404(
        sa.select(Company).where(Company.id == company_id).options(selectinload(Company.aliases))
    )


@bp.route("/companies")
@role_required(Role.STAFF)
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


def _render_company(company: Company, *, confirm=None, alias=None, merge=None, status=200):
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
@role_required(Role.STAFF)
def company(company_id: int):
    return _render_company(_company_or_404(company_id))


@bp.route("/companies/<int:company_id>/confirm", methods=["POST"])
@role_required(Role.STAFF)
def company_confirm(company_id: int):
    company = _company_or_404(company_id)
    form = ConfirmCompanyForm()
    if not form.validate_on_submit():
        return _render_company(company, confirm=form, status=400)
    operations.confirm_company(
        current_user,
        company,
        is_ineligible=form.eligibility.data == "ineligible",
        note=form.note.data,
    )
    db.session.commit()
    flash(
        f"{company.name} confirmed as {'ineligible' if company.is_ineligible else 'eligible'}.",
        "success",
    )
    return redirect(url_for("staff.companies"))


@bp.route("/companies/<int:company_id>/aliases", methods=["POST"])
@role_required(Role.STAFF)
def company_alias(company_id: int):
    company = _company_or_404(company_id)
    form = AliasForm()
    if form.validate_on_submit():
        try:
            entry = operations.add_alias(current_user, company, form.alias.data)
        except operations.RegistryError as exc:
            db.session.rollback()
            form.alias.errors = [str(exc)]
        else:
            db.session.commit()
            flash(f"“{entry.name}” now matches {company.name}.", "success")
            return redirect(url_for("staff.company", company_id=company.id))
    return _render_company(_company_or_404(company_id), alias=form, status=400)


@bp.route("/companies/<int:company_id>/merge", methods=["POST"])
@role_required(Role.STAFF)
def company_merge(company_id: int):
    company = _company_or_404(company_id)
    form = MergeForm()
    if form.validate_on_submit():
        target = operations.find_company(form.target.data)
        if target is None:
            form.target.errors = [
                f"No company in the registry is called “{form.target.data}”. Type its name "
                "exactly, or one of its aliases."
            ]
        else:
            try:
                source_name = company.name
                moved = operations.merge_companies(current_user, company, target)
            except operations.RegistryError as exc:
                db.session.rollback()
                form.target.errors = [str(exc)]
            else:
                db.session.commit()
                flash(
                    f"{source_name} merged into {target.name}: {moved} relationship(s) moved; "
                    f"“{source_name}” is now an alias.",
                    "success",
                )
                return redirect(url_for("staff.company", company_id=target.id))
    return _render_company(_company_or_404(company_id), merge=form, status=400)


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
@role_required(Role.STAFF)
def owner_decisions(meeting_id: int):
    meeting = db.get_or_404(Meeting, meeting_id)
    rows = _owner_rows(meeting, date.today())
    return render_template(
        "staff/owner_decisions.html",
        meeting=meeting,
        rows=rows,
        undecided=sum(1 for a, _ in rows if a.owner_exception is None),
    )


@bp.route("/assignments/<int:assignment_id>/owner", methods=["GET", "POST"])
@role_required(Role.STAFF)
def owner_decision(assignment_id: int):
    assignment = db.first_or_404(
        sa.select(Assignment)
        .where(Assignment.id == assignment_id)
        .options(
            joinedload(Assignment.user),
            joinedload(Assignment.activity).joinedload(Activity.meeting),
            joinedload(Assignment.activity).joinedload(Activity.room),
        )
    )
    status = states_for([assignment], date.today())[assignment.id]
    form = OwnerDecisionForm(
        data={
            "exception": assignment.owner_exception.value if assignment.owner_exception else None,
            "note": assignment.owner_decision_note or "",
        }
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            operations.record_owner_decision(
                current_user, assignment, OwnerException(form.exception.data), form.note.data
            )
        except (operations.RegistryError, ValueError) as exc:
            db.session.rollback()
            form.exception.errors = [str(exc)]
        else:
            db.session.commit()
            flash(
                f"Decision recorded for {assignment.user.full_name}: "
                f"{assignment.owner_exception.label}.",
                "success",
            )
            return redirect(
                url_for("staff.owner_decisions", meeting_id=assignment.activity.meeting_id)
            )
    return (
        render_template(
            "staff/owner_decision.html",
            assignment=assignment,
            meeting=assignment.activity.meeting,
            status=status,
            form=form,
        ),
        400 if form.errors else 200,
    )
