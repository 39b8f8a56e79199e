"""The company registry and owner/employee decisions. Operations never commit.

Every change that can change a role's state or what the public reads (a company
confirmed, reclassified or merged; an owner decision) refreshes the roles it touches
(``publication.refresh``) in the same transaction as its audit event.

Companies typed in by faculty arrive ``needs_review``; staff confirm them (ineligible
or eligible), add aliases (other spellings, "J&J"), or merge duplicates, keeping every
relationship. ``find_company`` and ``suggest_companies`` are how the disclosure form
matches what faculty type. ``record_owner_decision`` records which Standard 3 exception
lets an owner or employee of an ineligible company take part.

Each change writes its audit event.
"""

from __future__ import annotations

import sqlalchemy as sa

from .. import vetting
from ..audit import record
from ..enums import OwnerException
from ..errors import Conflict, Refusal
from ..extensions import db
from ..models import (
    Assignment,
    Company,
    CompanyAlias,
    Disclosure,
    OwnerDecision,
    Relationship,
    User,
    normalise_company_name,
    utcnow,
)
from ..models.base import in_force
from ..permissions import shares_activity
from ..publication.operations import refresh


class RegistryError(Refusal):
    """A company-registry or owner-decision change that cannot be made, with the reason."""


class OwnerDecisionForbidden(RegistryError):
    """This staff member may not decide about this person (themselves, or co-faculty)."""

    status = 403


# --------------------------------------------------------------------------- registry look-up


def find_company(name: str) -> Company | None:
    """The registry company a typed name means: by name or alias, ignoring case and punctuation."""
    key = normalise_company_name(name)
    if not key:
        return None
    company = db.session.scalar(sa.select(Company).where(Company.normalized_name == key))
    if company is not None:
        return company
    return db.session.scalar(
        sa.select(Company).join(CompanyAlias).where(CompanyAlias.normalized_name == key)
    )


def suggest_companies(query: str, limit: int = 10) -> list[dict[str, str | None]]:
    """Confirmed registry names (and aliases) whose key contains the typed text's key."""
    key = normalise_company_name(query)
    if len(key) < 2:
        return []
    like = f"%{key}%"
    by_name = db.session.scalars(
        sa.select(Company)
        .where(Company.needs_review.is_(False), Company.normalized_name.like(like))
        .order_by(Company.normalized_name.startswith(key).desc(), Company.name)
        .limit(limit)
    ).all()
    results: list[dict[str, str | None]] = [{"name": c.name, "alias": None} for c in by_name]
    seen = {c.id for c in by_name}
    aliases = db.session.execute(
        sa.select(CompanyAlias.name, Company.name, Company.id)
        .join(Company)
        .where(Company.needs_review.is_(False), CompanyAlias.normalized_name.like(like))
        .order_by(CompanyAlias.name)
        .limit(limit)
    ).all()
    for alias, name, company_id in aliases:
        if company_id not in seen and len(results) < limit:
            results.append({"name": name, "alias": alias})
            seen.add(company_id)
    return results[:limit]


# --------------------------------------------------------------------------- company registry


def roles_with(company_ids) -> sa.Select:
    """The roles of everyone who disclosed a relationship with one of these companies
    (in any version: a role is judged on the version in force at its start)."""
    people = (sa.select(Disclosure.user_id).join(Relationship, Relationship.disclosure_id == Disclosure.id)
              .where(Relationship.company_id.in_(list(company_ids))))
    return sa.select(Assignment.id).where(Assignment.user_id.in_(people))


def confirm_company(actor: User, company: Company, *, is_ineligible: bool, note: str | None,
                    name: str | None = None) -> None:
    """Staff confirm a company, its public name (``name``; blank keeps the current one) and
    whether it is ineligible. Only then may learners read the name: until a company typed
    by faculty is confirmed, no role whose relevant relationship names it is cleared.

    Raises ``RegistryError`` (on ``name``) when the public name carries ® or ™ (learners
    read plain legal names) or when it already names another company (merge instead).
    Side effects: sets ``name`` (the former spelling becomes an alias, so faculty typing
    it still match), ``is_ineligible``, ``note``, clears ``needs_review``; writes
    ``company.confirmed`` with the before/after values (and ``renamed``, never the names);
    refreshes the roles of everyone with a relationship with it.
    """
    public = " ".join((name or "").split()) or company.name
    if vetting.has_trademark_sign(public):
        raise RegistryError(
            f"“{public}” carries a trademark sign (® or ™). Learners read the company's plain "
            "legal name: remove the sign, then confirm.", "name")
    if len(public) > 200:
        raise RegistryError("Shorten the public name to 200 characters.", "name")
    renamed = public != company.name
    if renamed:
        key = normalise_company_name(public)
        if not key:
            raise RegistryError("Type the company's public name.", "name")
        other = find_company(public)
        if other is not None and other.id != company.id:
            raise RegistryError(
                f"“{public}” already names {other.name} in the registry. If they are one "
                "company, merge this one into it instead.", "name")
        former = company.name
        company.name = public
        for alias in [a for a in company.aliases if a.normalized_name == company.normalized_name]:
            company.aliases.remove(alias)  # the public name itself needs no alias
        former_key = normalise_company_name(former)
        if former_key != company.normalized_name and all(
                a.normalized_name != former_key for a in company.aliases):
            company.aliases.append(CompanyAlias(name=former))
    before = {"is_ineligible": company.is_ineligible, "needs_review": company.needs_review}
    company.is_ineligible = is_ineligible
    company.needs_review = False
    company.note = (note or "").strip() or None
    after = {"is_ineligible": company.is_ineligible, "needs_review": False}
    changes = {k: {"before": before[k], "after": after[k]} for k in after}
    if renamed:
        changes["renamed"] = True
    db.session.flush()
    record(actor, "company.confirmed", company, changes)
    refresh(db.session.scalars(roles_with([company.id])))


def add_alias(actor: User, company: Company, alias: str) -> CompanyAlias:
    """Another spelling of ``company`` (for example "J&J").

    Raises ``RegistryError`` when the spelling already names a company or alias.
    Side effects: adds a ``CompanyAlias``; writes ``company.alias_added``.
    """
    name = " ".join((alias or "").split())
    key = normalise_company_name(name)
    if not key:
        raise RegistryError("Type the other spelling of the company's name.")
    if key == company.normalized_name:
        raise RegistryError("That spelling already matches the company's name: no alias is needed.")
    other = find_company(name)
    if other is not None:
        raise RegistryError(
            f"“{name}” already matches {other.name}. Merge the two companies instead, if they are one."
        )
    entry = CompanyAlias(name=name)
    company.aliases.append(entry)
    db.session.flush()
    record(actor, "company.alias_added", company, {"alias_id": entry.id})
    return entry


def merge_into(actor: User, source: Company, target_name: str) -> tuple[Company, int]:
    """Merge ``source`` into the company ``target_name`` names (by name or alias).

    Raises ``RegistryError`` when no company has that name. Otherwise as
    ``merge_companies``; returns (target, relationships moved).
    """
    target = find_company(target_name)
    if target is None:
        raise RegistryError(
            f"No company in the registry is called “{target_name}”. Type its name exactly, "
            "or one of its aliases.", "target"
        )
    return target, merge_companies(actor, source, target)


def merge_companies(actor: User, source: Company, target: Company) -> int:
    """Fold ``source`` into ``target``: one company, every relationship kept.

    Side effects: every ``Relationship`` of ``source`` (in every disclosure
    version) now points at ``target``; ``source``'s name and aliases become
    aliases of ``target``; ``source`` is deleted; ``target`` stays as staff
    set it. Writes ``company.merged`` on the target. Returns the number of
    relationships moved. Raises ``RegistryError`` when both are the same.
    """
    if source.id == target.id:
        raise RegistryError("Choose a different company to merge into.")
    db.session.flush()
    touched = list(db.session.scalars(roles_with([source.id, target.id])))
    moved = db.session.execute(
        sa.update(Relationship)
        .where(Relationship.company_id == source.id)
        .values(company_id=target.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    spellings = [source.name, *(a.name for a in source.aliases)]
    source_id = source.id
    db.session.expire_all()  # loaded relationships now point at the target
    db.session.delete(source)
    db.session.flush()
    for spelling in spellings:
        key = normalise_company_name(spelling)
        if key and key != target.normalized_name and all(a.normalized_name != key for a in target.aliases):
            target.aliases.append(CompanyAlias(name=spelling))
    db.session.flush()
    record(
        actor,
        "company.merged",
        target,
        {"merged_company_id": source_id, "relationships_moved": moved},
    )
    refresh(touched)
    return moved


# --------------------------------------------------------------------------- owners and employees


def owner_decision(person: User, company: Company) -> OwnerDecision | None:
    """The decision in force now about ``person`` and ``company``, if any."""
    return db.session.scalar(
        sa.select(OwnerDecision).where(
            OwnerDecision.user_id == person.id, OwnerDecision.company_id == company.id,
            in_force(OwnerDecision)))


def owner_decision_refusal(actor: User | None, person: User) -> str | None:
    """Why ``actor`` may not decide whether ``person`` is an owner or employee, or which
    exception applies (any owner decision), or None: never for oneself, never for someone
    one shares an activity with."""
    if actor is None:
        return None
    if actor.id == person.id:
        return "You cannot decide about yourself as an owner or employee: another staff member must."
    if shares_activity(actor, person):
        return (f"You share an activity with {person.full_name}: another staff member must "
                "decide whether they are an owner or employee, and which exception applies.")
    return None


def record_owner_decision(
    actor: User, person: User, company: Company, exception: OwnerException, note: str,
    *, seen_decision_id: int = 0,
) -> OwnerDecision:
    """Staff record which Standard 3 exception (or none: excluded) lets ``person``, an
    owner or employee of ``company``, control content, or that they are not an owner or
    employee after all (``NOT_OWNER``: the relationship is then reviewed for relevance like
    any other). One decision per person and company, for every role; a changed decision
    is a new row superseding the one staff saw.

    Side effects: adds an ``OwnerDecision`` by ``actor``, now; audit
    ``owner_decision.recorded`` (before/after exception) with the person as subject;
    refreshes the person's roles. Raises ``OwnerDecisionForbidden`` (403) for a decision
    about oneself or someone one shares an activity with (another staff member decides),
    ``RegistryError`` for an empty note (the reason is required, "not an owner or
    employee" included), and ``Conflict`` when someone decided after the page was opened.
    """
    refusal = owner_decision_refusal(actor, person)
    if refusal:
        raise OwnerDecisionForbidden(refusal)
    if not (note or "").strip():
        raise RegistryError("Explain the decision in a sentence or two for the record.")
    current = owner_decision(person, company)
    if (current.id if current else 0) != (seen_decision_id or 0):
        who = current.decided_by.full_name if current and current.decided_by else "someone else"
        raise Conflict(f"{who} recorded a decision about {person.full_name} and {company.name} "
                       "after you opened this page. Nothing was saved: reload the page, read it, "
                       "then decide again.")
    decision = OwnerDecision(user=person, company=company, exception=exception, note=note.strip(),
                             decided_by=actor, decided_at=utcnow(),
                             supersedes_id=current.id if current else None)
    db.session.add(decision)
    db.session.flush()
    record(
        actor,
        "owner_decision.recorded",
        decision,
        {"company_id": company.id,
         "exception": {"before": current.exception if current else None, "after": exception}},
        subject=person,
    )
    refresh(db.session.scalars(sa.select(Assignment.id).where(Assignment.user_id == person.id)))
    return decision
