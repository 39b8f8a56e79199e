"""A realistic demo meeting: a spine society's annual meeting over four days.

Deterministic (seeded): the same call gives the same meeting. Dates are set
relative to ``today`` so the meeting is always upcoming and disclosures current.
Every workflow state is present: awaiting disclosure, awaiting review, needs
mitigation, cleared (with and without relevant relationships), excluded, and an
expired disclosure; and a company typed by faculty (with a ® staff must remove from its
public name) that keeps a speaker from being cleared until staff confirm it, and an
"Other" relationship learners read as its description.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from . import clock
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
    utcnow,
)
from .publication.operations import refresh

INELIGIBLE_COMPANIES = [
    ("Meridian Spine Technologies", ["Meridian Spine"]),
    ("NuVista Orthopedics", []),
    ("Axial Biologics", []),
    ("Keystone Surgical Devices", ["KSD"]),
    ("Halcyon Neuromodulation", []),
    ("Cortex Medical Systems", []),
    ("Hartwell & Hayes Medical", ["H&H Medical", "Hartwell and Hayes"]),
    ("Summit Pharmaceuticals", ["Summit Pharma"]),
    ("Bridgewater Therapeutics", []),
    ("Lumen Imaging Diagnostics", []),
    ("OsteoGen Labs", []),
    ("Vertebral Innovations", []),
    ("Pinnacle Implant Distributors", []),
    ("Crestline Pain Therapeutics", []),
    ("Sacrum Dynamics", []),
    ("Anchor Fixation Systems", []),
    ("Northstar Navigation Robotics", ["Northstar Robotics"]),
    ("Bluefield Biosciences", []),
    ("Orion Regenerative Medicine", []),
    ("Tidewater Compounding Pharmacy", []),
    ("Evergreen Wearable Health", []),
    ("Clearpath Pharmacy Benefits", []),
    ("Granite Reagents", []),
    ("Solstice Spinal Cord Stimulation", []),
    ("Atlas Disc Arthroplasty", []),
    ("Riverbend Biomedical", []),
    ("Larkspur Medical Marketing", []),
    ("Fulcrum Bone Graft", []),
    ("Quantum Neurodiagnostics", []),
    ("Beacon Surgical Instruments", []),
]

ELIGIBLE_ORGANISATIONS = [
    ("Lakeside University Hospital", "Hospital: eligible, not disclosed as ineligible"),
    ("Prairie Health Insurance", "Insurer: eligible"),
    ("ChartWell EHR", "EHR software company: eligible"),
]

TOPICS = [
    ("Lumbar fusion: indications and outcomes", ["lumbar fusion", "degenerative spondylolisthesis"]),
    ("Cervical disc replacement versus ACDF", ["cervical disc replacement", "ACDF"]),
    ("Spinal cord stimulation for chronic back pain", ["spinal cord stimulation", "neuromodulation"]),
    ("Sacroiliac joint fusion: who benefits?", ["SI joint fusion"]),
    ("Minimally invasive lumbar decompression", ["lumbar stenosis", "decompression"]),
    ("Bone graft substitutes and biologics", ["bone graft", "biologics"]),
    ("Robotic navigation in pedicle screw placement", ["navigation", "robotics"]),
    ("Adult spinal deformity: planning the correction", ["spinal deformity"]),
    ("Vertebral augmentation for osteoporotic fractures", ["kyphoplasty", "vertebroplasty"]),
    ("Opioid-sparing pain management after spine surgery", ["pain management", "ERAS"]),
    ("Basivertebral nerve ablation", ["basivertebral nerve ablation", "vertebrogenic pain"]),
    ("Endoscopic discectomy", ["endoscopic spine surgery"]),
    ("Cervical myelopathy: timing of surgery", ["cervical myelopathy"]),
    ("Epidural steroid injections: evidence review", ["epidural steroid injections"]),
    ("Coding, billing and practice management", ["practice management"]),
    ("Imaging of the degenerative spine", ["MRI", "imaging"]),
    ("Spinal infections and antibiotic strategy", ["spinal infection"]),
    ("Pediatric scoliosis bracing", ["scoliosis", "bracing"]),
    ("Research methods for spine registries", ["research methods", "registries"]),
    ("Physical therapy and rehabilitation after fusion", ["rehabilitation"]),
]

FIRST_NAMES = [
    "Maria", "James", "Aisha", "Robert", "Mei", "David", "Priya", "Michael", "Sofia", "Daniel",
    "Elena", "Thomas", "Fatima", "Christopher", "Hannah", "Kenji", "Laura", "Samuel", "Olga", "Ahmed",
    "Grace", "Lucas", "Nadia", "Benjamin", "Ingrid", "Carlos", "Yuki", "Patrick", "Amara", "Victor",
]
LAST_NAMES = [
    "Okafor", "Chen", "Patel", "Nguyen", "Schmidt", "Rossi", "Kowalski", "Haddad", "Johansson",
    "Murphy", "García", "Tanaka", "Ivanova", "Mensah", "Silva", "Kim", "O'Brien", "Novak", "Dubois",
    "Andersen", "Fischer", "Moreau", "Bauer", "Reyes", "Kaplan", "Lindqvist", "Adeyemi", "Costa",
]
SPECIAL_NAMES = [
    ("José Álvarez-Peña", "MD"),
    ("Zoë Brontë-Søndergaard", "MD, PhD"),
    ("王伟 (Wang Wei)", "MD"),
    ("Дмитрий Соколов", "MD"),
]
INSTITUTIONS = [
    "Lakeside University Hospital", "Midwest Spine Institute", "St. Catherine Medical Center",
    "University of the Plains School of Medicine", "Harbor Orthopedic Group", "Riverside Neurosurgery",
]
ROOM_NAMES = [
    "Ballroom A", "Ballroom B", "Room 201", "Room 202", "Room 203", "Room 210",
    "Skyline Hall", "Learning Lab 1",
]


@dataclass
class DemoLogins:
    staff: str
    reviewer: str
    faculty: str
    password: str


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    if index < len(SPECIAL_NAMES):
        return SPECIAL_NAMES[index]
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index * 7) % len(LAST_NAMES)]
    return f"{first} {last}", rng.choice(["MD", "MD", "DO", "MD, PhD", "PhD", "PT, DPT", "MD, MPH"])


def _email(name: str, index: int) -> str:
    ascii_name = "".join(ch for ch in name.lower() if ch.isascii() and (ch.isalnum() or ch == " "))
    parts = ascii_name.split() or ["faculty"]
    return f"{parts[0]}.{parts[-1]}{index}@example.org"


def _vetting_cases(faculty, by_person, unconfirmed, company, reviewer, today, now) -> None:
    """Only vetted text reaches learners: a speaker whose relevant, mitigated relationship
    names a company staff have not confirmed (not cleared until they do), and a speaker
    with an "Other" relationship, which learners read as its description. Added after the
    random profiles so those stay as they were."""
    cases = [
        (faculty[15], {"company": unconfirmed, "nature": Nature.CONSULTANT,
                       "started_on": today - timedelta(days=200),
                       "detail": "Advisory work on an expandable cage"}),
        (faculty[16], {"company": company, "nature": Nature.OTHER,
                       "started_on": today - timedelta(days=300),
                       "detail": "Travel grant for a cadaver course"}),
    ]
    for person, values in cases:
        disclosure = max(person.disclosures, key=lambda d: d.version)
        disclosure.has_relationships = True
        relationship = Relationship(disclosure=disclosure, **values)
        db.session.add(relationship)
        db.session.flush()
        for assignment in by_person.get(person.id, []):
            determination = Determination(
                relationship=relationship, assignment=assignment, is_relevant=True,
                rationale="The session covers products of this company.",
                reviewer=reviewer, decided_at=now - timedelta(days=1))
            determination.mitigations.append(Mitigation(
                method=MitigationMethod.PEER_REVIEW,
                notes="Slides peer reviewed by a planner without relevant relationships.",
                recorded_by=reviewer, recorded_at=now - timedelta(hours=20)))
            db.session.add(determination)


def _demo_issue16b(activities, companies, staff, reviewer, shared_hash, today, now) -> None:
    """Owners, employees and stock (issue 16), each decided as staff would:

    - Dr. Priya Founder holds stock in a privately held ineligible company (an owner):
      staff decided the basic-science exception; the relationship is relevant, mitigated,
      and learners read it;
    - Dr. Mark Shareholder holds publicly traded stock: an ordinary relationship, judged
      relevant and mitigated (put in place the day before it was recorded), cleared;
    - Dr. Nadia Boardman said "Executive or board member" for a scientific advisory board:
      staff recorded "not an owner or employee", and the relationship was reviewed as any
      other (relevant, mitigated, cleared);
    - Dr. Owen Employee is an employee with no exception: excluded, shown to staff as a
      role to replace, and left off every public document.
    """
    cases = [
        ("priya.founder@example.org", "Priya Founder", companies[1], Nature.PRIVATE_STOCK,
         "Co-founder", OwnerException.BASIC_SCIENCE,
         "The lecture is limited to pre-clinical research methods; no care recommendations."),
        ("mark.shareholder@example.org", "Mark Shareholder", companies[2], Nature.PUBLIC_STOCK,
         None, None, None),
        ("nadia.boardman@example.org", "Nadia Boardman", companies[3], Nature.EXECUTIVE,
         "Scientific advisory board", OwnerException.NOT_OWNER,
         "A scientific advisory board, not the company's board of directors: an advisor, "
         "not an owner or employee."),
        ("owen.employee@example.org", "Owen Employee", companies[0], Nature.EMPLOYEE,
         "Medical director", OwnerException.NONE,
         "The talk recommends the company's implants: no exception applies. Replace him."),
    ]
    for index, (email, name, company, nature, detail, exception, note) in enumerate(cases):
        person = User(email=email, full_name=name, degrees="MD",
                      institution="Great Lakes Spine Center")
        person.password_hash = shared_hash
        db.session.add(person)
        submitted = now - timedelta(days=10)
        disclosure = Disclosure(
            user=person, version=1, submitted_at=submitted, attested_at=submitted,
            valid_until=submitted.date() + timedelta(days=365), attestation_name=name,
            attested_complete=True, has_relationships=True)
        relationship = Relationship(company=company, nature=nature, detail=detail,
                                    started_on=today - timedelta(days=400 + 30 * index))
        disclosure.relationships.append(relationship)
        assignment = Assignment(user=person, activity=activities[5 + 7 * index],
                                role=AssignmentRole.PANELIST)
        db.session.add_all([disclosure, assignment])
        db.session.flush()
        if exception is not None:
            db.session.add(OwnerDecision(user=person, company=company, exception=exception,
                                         note=note, decided_by=staff,
                                         decided_at=now - timedelta(days=3)))
        if exception is OwnerException.NONE:
            continue  # excluded: nothing to review
        determination = Determination(
            relationship=relationship, assignment=assignment, is_relevant=True,
            rationale=f"{company.name} markets products discussed in this session.",
            reviewer=reviewer, decided_at=now - timedelta(days=2))
        determination.mitigations.append(Mitigation(
            method=MitigationMethod.PEER_REVIEW,
            notes="Slides peer reviewed by a planner without relevant relationships.",
            recorded_by=reviewer, recorded_at=now - timedelta(days=1),
            in_place_on=clock.meeting_today(activities[0].meeting) - timedelta(days=2)))
        db.session.add(determination)


def _demo_issue16c(meeting, rooms, companies, activities, faculty, by_person, staff, tz,
                   start) -> None:
    """Issue 16 (printed documents): the accredited provider, joint provider and disclosure
    policy; commercial support from the registry (a session with monetary and in-kind
    support, others with one, and support of the whole meeting); an industry session that
    is not accredited for CME; presentations declaring off-label use (per role)."""
    meeting.provider_name = "North American Spine Forum"
    meeting.joint_provider_name = "Lakeside University Office of CME"
    meeting.disclosure_policy_url = "https://cme.example.org/disclosure-policy"
    supports = [
        CommercialSupport(meeting=meeting, activity=activities[5], company=companies[0],
                          kind=SupportKind.MONETARY, created_by_id=staff.id),
        CommercialSupport(meeting=meeting, activity=activities[5], company=companies[3],
                          kind=SupportKind.IN_KIND, in_kind_detail="Loan of ultrasound equipment",
                          created_by_id=staff.id),
        CommercialSupport(meeting=meeting, activity=None, company=companies[1],
                          kind=SupportKind.MONETARY, created_by_id=staff.id),
    ]
    for index in (11, 23, 35):
        supports.append(CommercialSupport(meeting=meeting, activity=activities[index],
                                          company=companies[index % len(companies)],
                                          kind=SupportKind.MONETARY, created_by_id=staff.id))
    db.session.add_all(supports)
    # An industry lunch in the first room: listed apart, nobody asked to disclose for it.
    lunch = datetime.combine(start, time(12, 20), tzinfo=tz)
    industry = Activity(meeting=meeting, room=rooms[0], code="IND01",
                        title="Industry lunch symposium (not CME)",
                        starts_at=lunch.astimezone(UTC),
                        ends_at=(lunch + timedelta(minutes=60)).astimezone(UTC),
                        topics=[], credit_hours=Decimal("0"), is_accredited=False)
    db.session.add(industry)
    speaker = User(email="industry.speaker@example.org", full_name="Jordan Blake", degrees="MD")
    db.session.add(speaker)  # no disclosure, and never reminded: only a non-accredited role
    db.session.add(Assignment(user=speaker, activity=industry, role=AssignmentRole.SPEAKER))
    # Off-label use, declared for one presentation of each of these people (not the others).
    for person in (faculty[4], *faculty[7::7]):
        roles = sorted(by_person.get(person.id, []), key=lambda a: a.activity.starts_at)
        if roles:
            roles[0].discusses_off_label = True
            roles[0].off_label_detail = ("off-label use of recombinant bone morphogenetic "
                                         "protein (rhBMP-2) in the cervical spine")
    db.session.flush()


def _demo_issue16a(meeting, staff, reviewer, reviewer2, companies, shared_hash, today, now) -> None:
    """Everyone in control of content discloses (ACCME Standard 3), not only faculty: roles
    held for the whole meeting, so staff see them without setting anything up.

    - A course director and a planning committee of three: one with a relevant relationship
      mitigated by peer review of planning decisions, one with nothing to disclose, one who
      has not disclosed yet (reminded, awaiting disclosure).
    - Both reviewers hold a COI reviewer role and disclosed: Renee has nothing to disclose;
      Peter advises Meridian Spine Technologies, reviewed by Renee (relevant, mitigated by
      recusal), so he may review but never decide about a Meridian relationship (the review
      page names Renee instead). Staff (Carla) controls content too: nothing to disclose.
    """
    submitted = now - timedelta(days=12)

    def disclose(person, relationships=()):
        disclosure = Disclosure(
            user=person, version=1, submitted_at=submitted, attested_at=submitted,
            valid_until=submitted.date() + timedelta(days=365),
            attestation_name=person.full_name, attested_complete=True,
            has_relationships=bool(relationships))
        for company, nature, detail in relationships:
            disclosure.relationships.append(Relationship(
                company=company, nature=nature, started_on=today - timedelta(days=400),
                detail=detail))
        db.session.add(disclosure)
        return disclosure

    def role(person, kind):
        assignment = Assignment(user=person, meeting=meeting, role=kind)
        db.session.add(assignment)
        return assignment

    def person(email, name, degrees, institution):
        user = User(email=email, full_name=name, degrees=degrees, institution=institution)
        user.password_hash = shared_hash
        db.session.add(user)
        return user

    director = person("course.director@example.org", "Helen Marsh", "MD", "Midwest Spine Institute")
    planners = [
        person("committee1@example.org", "Laura Whitfield", "MD, PhD", "Lakeside University Hospital"),
        person("committee2@example.org", "Omar Reyes", "DO", "Harbor Orthopedic Group"),
        person("committee3@example.org", "Grace Lindqvist", "PT, DPT", "Riverside Neurosurgery"),
    ]
    role(director, AssignmentRole.COURSE_DIRECTOR)
    disclose(director)
    planner_roles = [role(p, AssignmentRole.PLANNING_COMMITTEE) for p in planners]
    laura = disclose(planners[0], [(companies[1], Nature.CONSULTANT, "Consulting on implant design")])
    disclose(planners[1])  # planners[2] has not disclosed: awaiting disclosure, reminded
    role(staff, AssignmentRole.CONTENT_STAFF)
    disclose(staff)
    role(reviewer, AssignmentRole.COI_REVIEWER)
    disclose(reviewer)
    peter_role = role(reviewer2, AssignmentRole.COI_REVIEWER)
    peter = disclose(reviewer2, [(companies[0], Nature.ADVISOR, "Scientific advisory board")])
    db.session.flush()

    decided = now - timedelta(days=10)
    cases = [
        (laura.relationships[0], planner_roles[0], MitigationMethod.PEER_REVIEW_PLANNING,
         "The topics and faculty she proposed for the lumbar sessions were reviewed by the "
         "course director, who has no relevant relationships."),
        (peter.relationships[0], peter_role, MitigationMethod.RECUSE,
         "Recused from reviewing any disclosure that names Meridian Spine Technologies."),
    ]
    for relationship, assignment, method, notes in cases:
        determination = Determination(
            relationship=relationship, assignment=assignment, is_relevant=True,
            rationale=f"{relationship.company.name} markets spine products the meeting covers.",
            reviewer=reviewer, decided_at=decided)
        determination.mitigations.append(Mitigation(
            method=method, notes=notes, recorded_by=reviewer, recorded_at=decided))
        db.session.add(determination)


def load_demo_meeting(today: date | None = None, password: str | None = None, seed: int = 2026) -> DemoLogins:
    """Create the demo meeting and its people. Caller commits."""
    rng = random.Random(seed)
    today = today or clock.now().date()
    password = password or secrets.token_urlsafe(9)
    tz = ZoneInfo("America/Chicago")
    start = today + timedelta(days=21)

    meeting = Meeting(
        name="North American Spine Forum Annual Meeting",
        slug=f"spine-annual-{start.year}",
        location="Chicago, IL",
        starts_on=start,
        ends_on=start + timedelta(days=3),
        timezone="America/Chicago",
        disclosure_deadline=start - timedelta(days=7),
    )
    db.session.add(meeting)
    rooms = [Room(meeting=meeting, name=name) for name in ROOM_NAMES]
    db.session.add_all(rooms)

    companies = []
    for name, aliases in INELIGIBLE_COMPANIES:
        company = Company(name=name, is_ineligible=True)
        company.aliases = [CompanyAlias(name=alias) for alias in aliases]
        companies.append(company)
    db.session.add_all(companies)
    eligible = [Company(name=name, is_ineligible=False, note=note) for name, note in ELIGIBLE_ORGANISATIONS]
    db.session.add_all(eligible)
    # A company typed by a faculty member that staff have not confirmed yet, as typed: with
    # a trademark sign staff must remove from its public name before confirming it.
    unconfirmed = Company(name="Spinewave® Startup Devices", is_ineligible=True, needs_review=True)
    db.session.add(unconfirmed)

    staff = User(email="staff@example.org", full_name="Carla Staffordson",
                 site_role=SiteRole.ADMIN, institution="North American Spine Forum")
    reviewer = User(email="reviewer@example.org", full_name="Dr. Renee Reviewer", degrees="MD",
                    institution="Lakeside University Hospital")
    reviewer2 = User(email="reviewer2@example.org", full_name="Peter Peerson", degrees="MD",
                     institution="Midwest Spine Institute")
    staff.set_password(password)
    shared_hash = staff.password_hash  # hashing is slow by design: hash the demo password once
    for account in (reviewer, reviewer2):
        account.password_hash = shared_hash
    db.session.add_all([staff, reviewer, reviewer2])
    db.session.add_all([
        Membership(user=staff, meeting=meeting, role=MeetingRole.STAFF),
        Membership(user=reviewer, meeting=meeting, role=MeetingRole.REVIEWER),
        Membership(user=reviewer2, meeting=meeting, role=MeetingRole.REVIEWER),
    ])

    faculty: list[User] = []
    for index in range(80):
        name, degrees = _person(rng, index)
        email = "faculty@example.org" if index == 4 else _email(name, index)
        person = User(email=email, full_name=name, degrees=degrees,
                      institution=rng.choice(INSTITUTIONS))
        person.password_hash = shared_hash
        faculty.append(person)
    db.session.add_all(faculty)

    activities: list[Activity] = []
    slots = [time(8, 0), time(9, 30), time(11, 0), time(13, 30), time(15, 0)]
    code = 0
    for day in range(4):
        for slot_index, slot in enumerate(slots):
            for room_index in range(2):
                if len(activities) >= 40:
                    break
                code += 1
                title, topics = TOPICS[(code * 3 + room_index) % len(TOPICS)]
                room = rooms[(day * 2 + room_index + slot_index) % len(rooms)]
                local_start = datetime.combine(start + timedelta(days=day), slot, tzinfo=tz)
                activities.append(Activity(
                    meeting=meeting, room=room, code=f"S{code:03d}", title=title,
                    starts_at=local_start.astimezone(UTC),
                    ends_at=(local_start + timedelta(minutes=75)).astimezone(UTC),
                    topics=topics, credit_hours=Decimal("1.25"),
                ))
    db.session.add_all(activities)

    assignments: list[Assignment] = []
    for index, activity in enumerate(activities):
        people = [faculty[(index * 2) % 80], faculty[(index * 2 + 1) % 80]]
        roles = [AssignmentRole.SPEAKER, AssignmentRole.MODERATOR]
        if index % 3 == 0:
            people.append(faculty[(index * 2 + 41) % 80])
            roles.append(AssignmentRole.PANELIST)
        if index % 8 == 0:
            people.append(faculty[(index + 60) % 80])
            roles.append(AssignmentRole.PLANNER)
        for person, role in zip(people, roles, strict=True):
            if any(a.user is person and a.activity is activity for a in assignments):
                continue
            assignments.append(Assignment(user=person, activity=activity, role=role))
    db.session.add_all(assignments)
    db.session.flush()

    now = utcnow()
    by_person: dict[int, list[Assignment]] = {}
    for assignment in assignments:
        by_person.setdefault(assignment.user_id, []).append(assignment)

    for index, person in enumerate(faculty):
        # Profile of this person in the workflow, spread deterministically.
        bucket = index % 10
        if bucket == 9 and index != 4:
            continue  # awaiting disclosure: has not disclosed
        submitted = now - timedelta(days=rng.randint(3, 60))
        disclosure = Disclosure(
            user=person, version=1, submitted_at=submitted, attested_at=submitted,
            valid_until=submitted.date() + timedelta(days=365),
            attestation_name=person.full_name, attested_complete=True,
            has_relationships=bucket not in (0, 1, 2),
        )
        if bucket == 8 and index % 20 == 8:
            # Expired: submitted 13 months ago, so the assignment waits for a new disclosure.
            old = now - timedelta(days=400)
            disclosure.submitted_at = disclosure.attested_at = old
            disclosure.valid_until = old.date() + timedelta(days=365)
        db.session.add(disclosure)
        if disclosure.has_relationships:
            count = 1 + rng.randint(0, 3)
            chosen = rng.sample(companies, count)
            for company in chosen:
                nature = rng.choice([Nature.CONSULTANT, Nature.RESEARCHER, Nature.SPEAKER, Nature.ADVISOR,
                                     Nature.ROYALTIES, Nature.CONTRACTOR])
                began = today - timedelta(days=rng.randint(30, 900))
                ended = None if rng.random() < .7 else min(today, began + timedelta(days=rng.randint(60, 300)))
                if ended and ended < today - timedelta(days=700):
                    ended = None
                disclosure.relationships.append(Relationship(
                    company=company, nature=nature, started_on=began, ended_on=ended,
                    detail="Consulting on product design" if nature is Nature.CONSULTANT else None,
                ))
            if bucket == 7 and index % 20 == 7:
                # Employee of an ineligible company: excluded until staff accept an exception.
                disclosure.relationships.append(Relationship(
                    company=companies[(index + 5) % len(companies)], nature=Nature.EMPLOYEE,
                    started_on=today - timedelta(days=500), ended_on=None,
                    detail="Medical director",
                ))
            if index % 11 == 0:
                disclosure.relationships.append(Relationship(
                    company=eligible[0], nature=Nature.EMPLOYEE, started_on=today - timedelta(days=2000),
                ))
        db.session.flush()
        if bucket == 3:
            continue  # awaiting review: nothing decided yet
        for assignment in by_person.get(person.id, []):
            title = assignment.activity.title.lower()
            for relationship in disclosure.relationships:
                if not relationship.company.is_ineligible:
                    continue
                if relationship.nature is Nature.EMPLOYEE:
                    continue  # staff decide on owners/employees first
                relevant = "practice management" not in title and rng.random() < .6
                determination = Determination(
                    relationship=relationship, assignment=assignment, is_relevant=relevant,
                    rationale=(
                        f"{relationship.company.name} markets products used in the content of this session."
                        if relevant else "The content does not concern the company's business lines."
                    ),
                    reviewer=reviewer, decided_at=now - timedelta(days=1),
                )
                db.session.add(determination)
                if relevant and bucket != 4:  # bucket 4: needs mitigation
                    determination.mitigations.append(Mitigation(
                        method=rng.choice([MitigationMethod.PEER_REVIEW, MitigationMethod.ATTEST_EVIDENCE]),
                        notes="Slides peer reviewed by a planner without relevant relationships.",
                        recorded_by=reviewer, recorded_at=now - timedelta(hours=20),
                    ))
        if bucket == 7 and index % 20 == 7 and index % 40 == 7:
            # Staff accepted an exception for the company this person works for.
            db.session.add(OwnerDecision(
                user=person, company=companies[(index + 5) % len(companies)],
                exception=OwnerException.BASIC_SCIENCE, decided_by=staff,
                decided_at=now - timedelta(days=2),
                note="Talk limited to pre-clinical research methods."))
        elif bucket == 7 and index % 20 == 7 and index == 67:
            # ... and found that none applies for another: excluded.
            db.session.add(OwnerDecision(
                user=person, company=companies[(index + 5) % len(companies)],
                exception=OwnerException.NONE, decided_by=staff,
                decided_at=now - timedelta(days=2),
                note="The talk recommends the company's implants: no exception applies."))

    db.session.flush()
    _vetting_cases(faculty, by_person, unconfirmed, companies[2], reviewer, today, now)
    _demo_issue16b(activities, companies, staff, reviewer, shared_hash, today, now)
    _demo_issue16c(meeting, rooms, companies, activities, faculty, by_person, staff, tz, start)
    _demo_issue16a(meeting, staff, reviewer, reviewer2, companies, shared_hash, today, now)
    db.session.flush()
    refresh(meetings=[meeting.id])  # every role judged, every statement and sheet published
    return DemoLogins(staff=staff.email, reviewer=reviewer.email, faculty="faculty@example.org",
                      password=password)
