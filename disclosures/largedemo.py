"""A large meeting for load tests and benchmarks: a hundred times the demo.

At ``scale=1``: 120 rooms, 600 activities over four days, 2,000 faculty holding
3,000 assignments, 10,000 disclosed relationships, and the determinations and
mitigations that put the assignments in every ``AssignmentState``.

Deterministic: ``plan_large_meeting`` is a pure function of ``(scale, seed,
today)``, and ``load_large_meeting`` inserts exactly that plan, so two runs give
the same meeting (only the random room tokens, which must stay unguessable, and
the password hash differ). Rows go in through Core bulk inserts
(``insert(...).returning(id, sort_by_parameter_order=True)``), with one shared
password hash, so the whole meeting loads in seconds on SQLite and PostgreSQL.

Who is where (the same at every scale, so a small test meeting has every state):
person ``index % 20`` chooses the profile in ``PROFILES``; person 0 is the
busiest (moderates the first sessions of the main ballroom) and logs in as
``faculty@example.org``.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from .demo import (
    ELIGIBLE_ORGANISATIONS,
    FIRST_NAMES,
    INELIGIBLE_COMPANIES,
    INSTITUTIONS,
    LAST_NAMES,
    SPECIAL_NAMES,
    TOPICS,
    DemoLogins,
)
from .enums import (
    AssignmentRole,
    MeetingRole,
    MitigationMethod,
    Nature,
    OwnerException,
    SiteRole,
    SupportKind,
)
from .extensions import db
from .models import (
    Activity,
    Assignment,
    CommercialSupport,
    Company,
    CompanyAlias,
    Determination,
    Disclosure,
    Meeting,
    Membership,
    Mitigation,
    OwnerDecision,
    Relationship,
    Room,
    User,
    new_room_token,
    normalise_company_name,
)
from .publication.operations import refresh

# Sizes at scale 1 (the "real meeting").
ROOMS = 120
ACTIVITIES = 600
FACULTY = 2000
ASSIGNMENTS_PER_ACTIVITY = 5  # 3,000 assignments
RELATIONSHIPS = 10_000
INELIGIBLE_COMPANY_COUNT = 300
MAIN_ROOMS = 10  # ballrooms with a session in every slot
SLOTS = [time(8, 0), time(9, 30), time(11, 0), time(13, 0), time(14, 30), time(16, 0)]
DAYS = 4
REVIEWERS = 6

# Person ``index % 20`` → profile. Every state of an assignment appears at every scale.
PROFILES = {
    0: "mixed",  # some assignments cleared, some awaiting review, some needing mitigation
    1: "no_disclosure",  # awaiting disclosure
    2: "expired",  # awaiting disclosure: last disclosure expired
    3: "excluded",  # employee of an ineligible company, no staff decision yet
    4: "owner_exception",  # owner with an accepted exception: reviewed and cleared
    5: "awaiting_review",
    6: "awaiting_review",
    7: "needs_mitigation",
    8: "needs_mitigation",
    9: "nothing_to_disclose",  # cleared, no relationships
    10: "eligible_only",  # cleared, relationships only with eligible organisations
    12: "owner_excluded",  # employee of an ineligible company; staff: no exception applies
}  # 11, 13–19: "cleared"

_COMPANY_WORDS_A = [
    "Apex", "Boreal", "Cascade", "Delta", "Ember", "Falcon", "Glacier", "Harbor", "Iris",
    "Juniper", "Kestrel", "Linden", "Magnolia", "Nimbus", "Onyx", "Polaris", "Quarry", "Redwood",
    "Sierra", "Tundra", "Umber", "Vantage", "Willow", "Xenon", "Yarrow", "Zephyr",
]
_COMPANY_WORDS_B = [
    "Spine", "Ortho", "Neuro", "Bio", "Medical", "Surgical", "Implant", "Pharma", "Diagnostics",
    "Therapeutics", "Robotics", "Devices",
]
_COMPANY_KINDS = ["Systems", "Labs", "Technologies", "Sciences", "Solutions", "Group", "Partners"]
_NATURES = [Nature.CONSULTANT, Nature.RESEARCHER, Nature.SPEAKER, Nature.ADVISOR,
            Nature.ROYALTIES, Nature.CONTRACTOR, Nature.PUBLIC_STOCK, Nature.OTHER]
_NATURE_WEIGHTS = [30, 20, 20, 12, 6, 6, 3, 3]
# What faculty write; an "Other" relationship must be described (learners read it).
_DETAILS = {Nature.CONSULTANT: "Consulting on product design", Nature.OTHER: "Travel grant"}


@dataclass
class LargePlan:
    """Rows to insert. References between rows are list indexes (``*_ix``), not ids."""

    meeting: dict[str, Any]
    rooms: list[dict[str, Any]] = field(default_factory=list)
    companies: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    disclosures: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    determinations: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[dict[str, Any]] = field(default_factory=list)
    owner_decisions: list[dict[str, Any]] = field(default_factory=list)
    supports: list[dict[str, Any]] = field(default_factory=list)  # commercial support
    staff_ix: int = 0
    reviewer_ix: int = 1
    reviewer_ixs: list[int] = field(default_factory=list)
    busiest_ix: int = 0  # index into ``users`` of the busiest faculty member

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in (
            "rooms", "companies", "users", "activities", "assignments", "disclosures",
            "relationships", "determinations", "mitigations")}


def _scaled(value: int, scale: float, minimum: int) -> int:
    return max(minimum, round(value * scale))


def _profile(index: int) -> str:
    return PROFILES.get(index % 20, "cleared")


def _email(name: str, index: int) -> str:
    ascii_name = "".join(ch for ch in name.lower() if ch.isascii() and (ch.isalnum() or ch == " "))
    parts = ascii_name.split() or ["faculty"]
    return f"{parts[0]}.{parts[-1]}.{index}@example.org"


def _room_names(count: int) -> list[str]:
    names = [f"Ballroom {chr(ord('A') + i)}" for i in range(min(MAIN_ROOMS, count))]
    floor = 1
    while len(names) < count:
        for number in range(1, 31):
            if len(names) >= count:
                break
            names.append(f"Room {floor}{number:02d}")
        floor += 1
    return names


def _company_names(count: int) -> list[tuple[str, list[str]]]:
    """The demo's thirty named companies first, then generated, all distinct once normalised."""
    result = list(INELIGIBLE_COMPANIES[:count])
    seen = {normalise_company_name(name) for name, _ in result}
    for a in _COMPANY_WORDS_A:
        for b in _COMPANY_WORDS_B:
            for kind in _COMPANY_KINDS:
                if len(result) >= count:
                    return result
                name = f"{a} {b} {kind}"
                key = normalise_company_name(name)
                if key not in seen:
                    seen.add(key)
                    result.append((name, []))
    return result


def plan_large_meeting(scale: float = 1.0, seed: int = 2026, today: date | None = None) -> LargePlan:
    """The whole meeting as rows, a pure function of its arguments."""
    rng = random.Random(seed)  # noqa: S311  (demo data, not security)
    today = today or date.today()
    anchor = datetime.combine(today, time(0, 0), tzinfo=UTC)  # every timestamp derives from it
    tz = ZoneInfo("America/Chicago")
    start = today + timedelta(days=21)

    room_count = _scaled(ROOMS, scale, 3)
    activity_count = _scaled(ACTIVITIES, scale, 6)
    faculty_count = _scaled(FACULTY, scale, 40)
    relationship_target = _scaled(RELATIONSHIPS, scale, 60)
    company_count = _scaled(INELIGIBLE_COMPANY_COUNT, scale, 30)
    main_rooms = min(MAIN_ROOMS, max(1, room_count // 12))

    plan = LargePlan(meeting={
        "name": "North American Spine Forum Annual Meeting (large)",
        "slug": f"spine-annual-large-{start.year}",
        "location": "Chicago, IL",
        "starts_on": start,
        "ends_on": start + timedelta(days=DAYS - 1),
        "timezone": "America/Chicago",
        "disclosure_deadline": start - timedelta(days=7),
        "created_at": anchor - timedelta(days=120),
    })
    plan.rooms = [{"name": name, "token_issued_at": anchor - timedelta(days=100)}
                  for name in _room_names(room_count)]

    for name, aliases in _company_names(company_count):
        plan.companies.append({"name": name, "is_ineligible": True, "needs_review": False,
                               "note": None, "created_at": anchor - timedelta(days=365)})
        for alias in aliases:
            plan.aliases.append({"company_ix": len(plan.companies) - 1, "name": alias})
    eligible_ix = []
    for name, note in ELIGIBLE_ORGANISATIONS:
        eligible_ix.append(len(plan.companies))
        plan.companies.append({"name": name, "is_ineligible": False, "needs_review": False,
                               "note": note, "created_at": anchor - timedelta(days=365)})
    plan.companies.append({"name": "Spinewave Startup Devices", "is_ineligible": True,
                           "needs_review": True, "note": None,
                           "created_at": anchor - timedelta(days=3)})
    ineligible_ix = list(range(company_count))

    # Accounts: staff, reviewers, then faculty (person 0 is the busiest, faculty@example.org).
    created = anchor - timedelta(days=200)
    plan.users.append({"email": "staff@example.org", "full_name": "Carla Staffordson",
                       "degrees": None, "institution": "North American Spine Forum",
                       "site_role": SiteRole.ADMIN, "created_at": created})
    plan.staff_ix = 0
    reviewer_ixs = []
    for number in range(REVIEWERS):
        email = "reviewer@example.org" if number == 0 else f"reviewer{number + 1}@example.org"
        reviewer_ixs.append(len(plan.users))
        plan.users.append({"email": email, "full_name": f"{FIRST_NAMES[number]} Reviewer{number + 1}",
                           "degrees": "MD", "institution": INSTITUTIONS[number % len(INSTITUTIONS)],
                           "site_role": None, "created_at": created})
    plan.reviewer_ix = reviewer_ixs[0]
    plan.reviewer_ixs = reviewer_ixs
    faculty_base = len(plan.users)
    plan.busiest_ix = faculty_base
    for index in range(faculty_count):
        if 0 < index <= len(SPECIAL_NAMES):
            name, degrees = SPECIAL_NAMES[index - 1]
        else:
            first = FIRST_NAMES[index % len(FIRST_NAMES)]
            last = LAST_NAMES[(index * 7 + index // len(FIRST_NAMES)) % len(LAST_NAMES)]
            middle = chr(ord("A") + (index // 97) % 26)
            name = f"{first} {middle}. {last}"
            degrees = rng.choice(["MD", "MD", "DO", "MD, PhD", "PhD", "PT, DPT", "MD, MPH"])
        plan.users.append({
            "email": "faculty@example.org" if index == 0 else _email(name, index),
            "full_name": name, "degrees": degrees,
            "institution": INSTITUTIONS[rng.randrange(len(INSTITUTIONS))],
            "site_role": None, "created_at": created,
        })

    # Programme: main rooms hold a session in every slot, the others share the rest.
    slots = [(day, slot) for day in range(DAYS) for slot in SLOTS]
    per_slot = -(-activity_count // len(slots))
    other_rooms = list(range(main_rooms, room_count))
    code = 0
    for slot_no, (day, slot) in enumerate(slots):
        for k in range(per_slot):
            if len(plan.activities) >= activity_count:
                break
            if k < main_rooms:
                room_ix = k
            else:
                room_ix = other_rooms[(slot_no * (per_slot - main_rooms) + k - main_rooms)
                                      % len(other_rooms)] if other_rooms else k % room_count
            code += 1
            title, topics = TOPICS[(code * 7 + k) % len(TOPICS)]
            local_start = datetime.combine(start + timedelta(days=day), slot, tzinfo=tz)
            if code % 9 == 0:
                plan.supports.append({"activity_ix": len(plan.activities),
                                      "company_ix": code % company_count,
                                      "kind": SupportKind.MONETARY, "in_kind_detail": None,
                                      "created_at": anchor - timedelta(days=30)})
            plan.activities.append({
                "room_ix": room_ix, "code": f"L{code:04d}",
                "title": f"{title} ({code})",
                "starts_at": local_start.astimezone(UTC),
                "ends_at": (local_start + timedelta(minutes=75)).astimezone(UTC),
                "topics": topics, "credit_hours": Decimal("1.25"),
                "updated_at": anchor - timedelta(days=30),
            })

    # Assignments: five people per session; a few "key opinion leaders" speak often.
    cumulative = list(itertools.accumulate(
        6 if i < max(2, faculty_count // 50) else 1 for i in range(1, faculty_count)))
    roles = [AssignmentRole.MODERATOR, AssignmentRole.SPEAKER, AssignmentRole.SPEAKER,
             AssignmentRole.SPEAKER, AssignmentRole.PANELIST]
    busiest_sessions = [a for a, act in enumerate(plan.activities) if act["room_ix"] == 0][:20]
    by_person: dict[int, list[int]] = {}
    for activity_ix in range(len(plan.activities)):
        people: list[int] = []
        if activity_ix in busiest_sessions:
            people.append(0)
        while len(people) < ASSIGNMENTS_PER_ACTIVITY:
            person = rng.choices(range(1, faculty_count), cum_weights=cumulative)[0]
            if person not in people:
                people.append(person)
        for person, role in zip(people, roles, strict=True):
            if activity_ix % 10 == 0 and role is AssignmentRole.PANELIST:
                role = AssignmentRole.PLANNER
            by_person.setdefault(person, []).append(len(plan.assignments))
            off_label = person % 7 == 0  # declared for each of their presentations
            plan.assignments.append({
                "user_ix": faculty_base + person, "activity_ix": activity_ix, "role": role,
                "created_at": anchor - timedelta(days=90), "discusses_off_label": off_label,
                "off_label_detail": ("Off-label use of recombinant bone morphogenetic protein "
                                     "in the cervical spine.") if off_label else None,
            })

    # Relationship counts per current disclosure, adjusted to hit the target exactly.
    disclosing = [i for i in range(faculty_count) if _profile(i) != "no_disclosure"]

    def most(person: int) -> int:
        profile = _profile(person)
        if profile == "nothing_to_disclose":
            return 0
        return len(eligible_ix) if profile == "eligible_only" else 15

    counts = {i: min(most(i), 1 + int(rng.expovariate(1 / 4.5))) for i in disclosing}
    prior = [i for i in disclosing if i % 9 == 0 and _profile(i) != "expired"]
    prior_counts = {i: 1 + rng.randrange(3) for i in prior}
    extra = sum(1 for i in disclosing if _profile(i) in ("excluded", "owner_excluded", "owner_exception"))
    total = sum(counts.values()) + sum(prior_counts.values()) + extra
    turn = 0
    while total != relationship_target and disclosing:
        person = disclosing[turn % len(disclosing)]
        turn += 1
        if total < relationship_target and counts[person] < most(person):
            counts[person] += 1
            total += 1
        elif total > relationship_target and counts[person] > 1:
            counts[person] -= 1
            total -= 1
        if turn > 100 * len(disclosing):
            break

    nature_choices = rng.choices(_NATURES, _NATURE_WEIGHTS, k=relationship_target * 2)
    nature_turn = 0

    def relationships_for(disclosure_ix: int, count: int, person: int) -> list[int]:
        nonlocal nature_turn
        chosen = rng.sample(ineligible_ix, min(count, len(ineligible_ix)))
        if _profile(person) == "eligible_only":
            chosen = [eligible_ix[k % len(eligible_ix)] for k in range(min(count, len(eligible_ix)))]
        made = []
        for company_ix in chosen:
            nature = nature_choices[nature_turn % len(nature_choices)]
            nature_turn += 1
            began = today - timedelta(days=30 + rng.randrange(700))
            ended = None
            if rng.random() < 0.3:
                ended = min(today, began + timedelta(days=60 + rng.randrange(240)))
            made.append(len(plan.relationships))
            plan.relationships.append({
                "disclosure_ix": disclosure_ix, "company_ix": company_ix, "nature": nature,
                "started_on": began, "ended_on": ended,
                "detail": _DETAILS.get(nature),
            })
        return made

    reviewed_at = anchor - timedelta(days=2)
    for person in disclosing:
        profile = _profile(person)
        user_ix = faculty_base + person
        version = 1
        if person in prior_counts:
            old = anchor - timedelta(days=200 + person % 60)
            plan.disclosures.append(_disclosure(plan.users[user_ix], user_ix, 1, old, True))
            relationships_for(len(plan.disclosures) - 1, prior_counts[person], person)
            version = 2
        submitted = anchor - timedelta(days=3 + (person * 13) % 80)
        if profile == "expired":
            submitted = anchor - timedelta(days=400)
        disclosure = _disclosure(plan.users[user_ix], user_ix, version, submitted,
                                 profile != "nothing_to_disclose")
        plan.disclosures.append(disclosure)
        disclosure_ix = len(plan.disclosures) - 1
        mine = relationships_for(disclosure_ix, counts[person], person)
        if profile in ("excluded", "owner_excluded", "owner_exception"):
            mine.append(len(plan.relationships))
            plan.relationships.append({
                "disclosure_ix": disclosure_ix,
                "company_ix": ineligible_ix[person % len(ineligible_ix)],
                "nature": Nature.PRIVATE_STOCK if profile == "owner_exception" else Nature.EMPLOYEE,
                "started_on": today - timedelta(days=500), "ended_on": None,
                "detail": "Founder's shares" if profile == "owner_exception" else "Medical director",
            })
        if profile == "owner_exception":
            # Staff accepted an exception for the company this person owns part of.
            plan.owner_decisions.append({
                "user_ix": user_ix, "company_ix": ineligible_ix[person % len(ineligible_ix)],
                "exception": OwnerException.BASIC_SCIENCE, "decided_by_ix": plan.staff_ix,
                "decided_at": reviewed_at, "note": "Talk limited to pre-clinical research methods."})
        if profile == "owner_excluded":
            # Staff decided no exception applies: the person must be replaced.
            plan.owner_decisions.append({
                "user_ix": user_ix, "company_ix": ineligible_ix[person % len(ineligible_ix)],
                "exception": OwnerException.NONE, "decided_by_ix": plan.staff_ix,
                "decided_at": reviewed_at, "note": "Talk is on the company's own implant."})
        if profile in ("expired", "excluded", "owner_excluded", "awaiting_review", "eligible_only"):
            continue  # nothing decided for these yet
        for turn_no, assignment_ix in enumerate(by_person.get(person, [])):
            assignment = plan.assignments[assignment_ix]
            fate = profile
            if profile == "mixed":
                fate = ("cleared", "awaiting_review", "needs_mitigation")[turn_no % 3]
            title = plan.activities[assignment["activity_ix"]]["title"].lower()
            for position, relationship_ix in enumerate(mine):
                if not plan.companies[plan.relationships[relationship_ix]["company_ix"]]["is_ineligible"]:
                    continue
                if fate == "awaiting_review" and position == 0:
                    continue  # one relationship still to be judged
                relevant = "practice management" not in title and rng.random() < 0.45
                if fate == "needs_mitigation" and position == 0:
                    relevant = True
                reviewer_ix = reviewer_ixs[(person + turn_no) % len(reviewer_ixs)]
                plan.determinations.append({
                    "relationship_ix": relationship_ix, "assignment_ix": assignment_ix,
                    "is_relevant": relevant,
                    "rationale": (
                        "The company markets products used in the content of this session."
                        if relevant else "The content does not concern the company's business lines."),
                    "reviewer_ix": reviewer_ix, "decided_at": reviewed_at,
                })
                if relevant and not (fate == "needs_mitigation" and position == 0):
                    method = (MitigationMethod.PEER_REVIEW, MitigationMethod.ATTEST_EVIDENCE,
                              MitigationMethod.DIVEST)[(relationship_ix + assignment_ix) % 3]
                    plan.mitigations.append({
                        "determination_ix": len(plan.determinations) - 1, "method": method,
                        "notes": "Slides peer reviewed by a planner without relevant relationships.",
                        "recorded_by_ix": reviewer_ix,
                        "recorded_at": reviewed_at + timedelta(hours=4),
                    })
    # Reviewers and staff are in control of content too (ACCME Standard 3): each holds a
    # role for the whole meeting and disclosed (nothing to disclose), so that role is
    # cleared and they may record decisions.
    for user_ix, role in [(plan.staff_ix, AssignmentRole.CONTENT_STAFF),
                          *((ix, AssignmentRole.COI_REVIEWER) for ix in plan.reviewer_ixs)]:
        plan.assignments.append({"user_ix": user_ix, "activity_ix": None, "role": role,
                                 "created_at": anchor - timedelta(days=120)})
        plan.disclosures.append(_disclosure(plan.users[user_ix], user_ix, 1,
                                            anchor - timedelta(days=100), False))
    return plan


def _disclosure(user: dict, user_ix: int, version: int, submitted: datetime,
                has_relationships: bool) -> dict[str, Any]:
    return {
        "user_ix": user_ix, "version": version, "submitted_at": submitted,
        "attested_at": submitted, "valid_until": submitted.date() + timedelta(days=365),
        "has_relationships": has_relationships, "attestation_name": user["full_name"],
        "attested_complete": True,
    }


def _insert(model, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Bulk insert through Core; the new ids, in the order of ``rows``."""
    rows = list(rows)
    if not rows:
        return []
    stmt = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


def _resolve(row: dict[str, Any], **ids: list[int]) -> dict[str, Any]:
    """Replace ``<name>_ix`` references with ``<name>_id`` from the matching id list."""
    out = {}
    for key, value in row.items():
        if key.endswith("_ix"):
            name = key[:-3]
            out[f"{name}_id"] = None if value is None else ids[name][value]
        else:
            out[key] = value
    return out


def load_large_meeting(scale: float = 1.0, seed: int = 2026, today: date | None = None,
                       password: str | None = None) -> DemoLogins:
    """Insert the planned meeting in bulk. Caller commits."""
    plan = plan_large_meeting(scale=scale, seed=seed, today=today)
    password = password or secrets.token_urlsafe(9)
    shared_hash = generate_password_hash(password)  # hashing is slow by design: once

    company_ids = _insert(Company, ({**c, "normalized_name": normalise_company_name(c["name"])}
                                    for c in plan.companies))
    _insert(CompanyAlias, ({"company_id": company_ids[a["company_ix"]], "name": a["name"],
                            "normalized_name": normalise_company_name(a["name"])}
                           for a in plan.aliases))
    user_ids = _insert(User, ({**u, "password_hash": shared_hash, "is_active": True,
                               "session_nonce": secrets.token_hex(8)} for u in plan.users))
    (meeting_id,) = _insert(Meeting, [plan.meeting])
    _insert(Membership, [
        {"user_id": user_ids[ix], "meeting_id": meeting_id, "role": role,
         "granted_at": plan.meeting["created_at"]}
        for ix, role in [(plan.staff_ix, MeetingRole.STAFF),
                         *((ix, MeetingRole.REVIEWER) for ix in plan.reviewer_ixs)]
    ])
    room_ids = _insert(Room, ({**r, "meeting_id": meeting_id, "public_token": new_room_token()}
                              for r in plan.rooms))
    activity_ids = _insert(Activity, (
        {**_resolve(a, room=room_ids), "meeting_id": meeting_id, "version_id": 1}
        for a in plan.activities))
    ids = {"room": room_ids, "user": user_ids, "activity": activity_ids,
           "decided_by": user_ids, "company": company_ids, "reviewer": user_ids,
           "recorded_by": user_ids}
    _insert(CommercialSupport, ({**_resolve(c, **ids), "meeting_id": meeting_id}
                                for c in plan.supports))
    ids["assignment"] = _insert(Assignment, ({**_resolve(a, **ids), "meeting_id": meeting_id,
                                              "version_id": 1} for a in plan.assignments))
    ids["disclosure"] = _insert(Disclosure, (_resolve(d, **ids) for d in plan.disclosures))
    ids["relationship"] = _insert(Relationship, (_resolve(r, **ids) for r in plan.relationships))
    ids["determination"] = _insert(Determination, (_resolve(d, **ids) for d in plan.determinations))
    _insert(Mitigation, (_resolve(m, **ids) for m in plan.mitigations))
    _insert(OwnerDecision, (_resolve(o, **ids) for o in plan.owner_decisions))
    db.session.flush()
    refresh(meetings=[meeting_id])  # every role judged, every statement and sheet published
    return DemoLogins(staff=plan.users[plan.staff_ix]["email"],
                      reviewer=plan.users[plan.reviewer_ix]["email"],
                      faculty=plan.users[plan.busiest_ix]["email"], password=password)
