"""The domain's closed vocabularies. Imports nothing from the package.

Each enum's ``value`` is what the database stores; ``label`` is what people read.
"""

from __future__ import annotations

import enum


class LabelledEnum(str, enum.Enum):
    """A string enum with a human label: ``Nature.CONSULTANT.label == "Consultant"``."""

    def __new__(cls, value: str, label: str, help_text: str = ""):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        obj.help_text = help_text
        return obj

    def __str__(self) -> str:
        return self.value

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """(value, label) pairs; forms wrap them with ``as_choices``."""
        return [(member.value, member.label) for member in cls]


class SiteRole(LabelledEnum):
    """Roles held across the whole site (most people hold none)."""

    ADMIN = ("admin", "Site administrator")
    AUDITOR = ("auditor", "Auditor (read-only records and audit log)")


class MeetingRole(LabelledEnum):
    """Roles held in one meeting: what the person may do there (``permissions``)."""

    STAFF = ("staff", "Meeting staff")
    REVIEWER = ("reviewer", "Reviewer")


class AssignmentRole(LabelledEnum):
    """Who controls content: in one activity (speaker … other), or for the whole meeting
    (planning committee … staff who control content: ``is_meeting_level``)."""

    SPEAKER = ("speaker", "Speaker")
    MODERATOR = ("moderator", "Moderator")
    PANELIST = ("panelist", "Panelist")
    PLANNER = ("planner", "Planner")
    AUTHOR = ("author", "Author")
    OTHER = ("other", "Other")
    # Held for the whole meeting, not one activity (ACCME: everyone in control of content).
    PLANNING_COMMITTEE = ("planning_committee", "Planning committee member")
    COURSE_DIRECTOR = ("course_director", "Course director")
    COI_REVIEWER = ("coi_reviewer", "COI reviewer")
    CONTENT_REVIEWER = ("content_reviewer", "Content peer reviewer")
    CONTENT_STAFF = ("content_staff", "Staff who control content")

    @property
    def is_meeting_level(self) -> bool:
        """Held for the whole meeting (no activity), judged as of the meeting's first day."""
        return self in MEETING_LEVEL_ROLES

    @property
    def plans(self) -> bool:
        """Plans content (or decides about it) rather than presenting it: offered the
        planner mitigations (peer review of planning decisions, recusal, divestment)."""
        return self is AssignmentRole.PLANNER or self.is_meeting_level

    @classmethod
    def meeting_level(cls) -> list[AssignmentRole]:
        return [role for role in cls if role.is_meeting_level]

    @classmethod
    def activity_level(cls) -> list[AssignmentRole]:
        return [role for role in cls if not role.is_meeting_level]


MEETING_LEVEL_ROLES = frozenset({
    AssignmentRole.PLANNING_COMMITTEE, AssignmentRole.COURSE_DIRECTOR,
    AssignmentRole.COI_REVIEWER, AssignmentRole.CONTENT_REVIEWER, AssignmentRole.CONTENT_STAFF,
})


class Nature(LabelledEnum):
    """Natures of a financial relationship named by ACCME Standard 3, asked in plain words.

    ACCME (Standard 3 FAQ): stock in a publicly traded ineligible company, and stock
    options, are financial relationships, not ownership; stock in a privately held one,
    founding or owning it, and employment (including an executive or board role) make
    the person an owner or employee. The form asks which, so nobody has to know the rule.
    ``OWNERSHIP`` is the former "ownership interest" (public or private not stated): kept
    for rows disclosed before the question was asked, treated as ownership (staff decide),
    and no longer offered on the form (``offered``).
    """

    EMPLOYEE = ("employee", "Employee", "Employed by the company, full or part time.")
    EXECUTIVE = (
        "executive",
        "Executive or board member",
        "An officer of the company or a member of its board of directors "
        "(a scientific or advisory board is “Advisor”).",
    )
    PRIVATE_STOCK = (
        "private_stock",
        "Stock in a privately held company, or founder or owner",
        "Shares in a company not listed on a stock exchange (a start-up, say), or having "
        "founded or owning the company.",
    )
    PUBLIC_STOCK = (
        "public_stock",
        "Stock in a publicly traded company, or stock options",
        "Individual shares of a company listed on a stock exchange, or stock options; "
        "diversified mutual funds do not count.",
    )
    RESEARCHER = (
        "researcher",
        "Researcher",
        "Research funding counts when you are the principal or named investigator, "
        "even if the grant is paid to and managed by your institution.",
    )
    CONSULTANT = ("consultant", "Consultant")
    ADVISOR = ("advisor", "Advisor")
    SPEAKER = ("speaker", "Speaker / speakers bureau")
    CONTRACTOR = ("contractor", "Independent contractor (including contracted research)")
    ROYALTIES = ("royalties", "Royalties or patent beneficiary")
    OWNERSHIP = ("ownership", "Ownership interest")  # former choice: see the class docstring
    OTHER = ("other", "Other")

    @property
    def makes_owner_or_employee(self) -> bool:
        """Standard 3: owners and employees of ineligible companies are excluded unless
        staff decide an exception. Publicly traded stock and stock options never are."""
        return self in (Nature.EMPLOYEE, Nature.EXECUTIVE, Nature.PRIVATE_STOCK, Nature.OWNERSHIP)

    @property
    def offered(self) -> bool:
        """Offered on the disclosure form (the former "ownership interest" is not)."""
        return self is not Nature.OWNERSHIP

    @property
    def staff_label(self) -> str:
        """The nature as staff read it: the former choice says what it leaves unsaid."""
        if self is Nature.OWNERSHIP:
            return "Ownership interest (public or private not stated: treated as ownership)"
        return self.label

    @classmethod
    def offered_choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls if member.offered]


class MitigationMethod(LabelledEnum):
    PEER_REVIEW = ("peer_review", "Peer review of content by persons without relevant relationships")
    # Standard 3's planner mitigation: someone without relevant relationships reviews
    # the planning decisions (topics, faculty) the person took part in.
    PEER_REVIEW_PLANNING = (
        "peer_review_planning",
        "Peer review of planning decisions by persons without relevant relationships",
    )
    ATTEST_EVIDENCE = (
        "attest_evidence",
        "Attestation that clinical recommendations are evidence-based and free of commercial bias",
    )
    DIVEST = ("divest", "Divestiture of the relationship")
    ALTER_ROLE = ("alter_role", "Role altered")
    RECUSE = ("recuse", "Recusal from content related to the company")
    OTHER = ("other", "Other")


class AssignmentState(LabelledEnum):
    """A role's state as judged at its start; decided only by ``disclosures.state``."""

    AWAITING_DISCLOSURE = ("awaiting_disclosure", "Awaiting disclosure")
    AWAITING_REVIEW = ("awaiting_review", "Awaiting review")
    NEEDS_MITIGATION = ("needs_mitigation", "Needs mitigation")
    CLEARED = ("cleared", "Cleared")
    # An owner or employee of an ineligible company: staff decide which exception applies.
    AWAITING_OWNER_DECISION = ("awaiting_owner_decision", "Owner/employee: staff decision needed")
    EXCLUDED = ("excluded", "Excluded")


class OwnerException(LabelledEnum):
    """What staff decide about a person and a company they may own or work for: one of the
    three Standard 3 exceptions under which an owner or employee may still control content,
    excluded (``NONE``), or not an owner or employee after all (``NOT_OWNER``)."""

    UNRELATED = ("unrelated", "Content is not related to the company's business lines or products")
    BASIC_SCIENCE = (
        "basic_science",
        "Content is limited to basic science research and makes no care recommendations",
    )
    DEVICE_TRAINING = (
        "device_training",
        "Teaching the safe and proper use of a medical device, without recommending whether or when to use it",
    )
    NONE = ("none", "Excluded: no exception applies, the person may not control this content")
    # Not an exception: staff found the person is not an owner or employee (a stock
    # holding that turns out to be publicly traded, say). The relationship is then judged
    # for relevance like any other.
    NOT_OWNER = ("not_owner", "Not an owner or employee: review the relationship as any other")


class ReminderKind(LabelledEnum):
    DISCLOSURE = ("disclosure", "Disclosure reminder")
    REVIEW_SUMMARY = ("review_summary", "Reviewer summary")


class SupportKind(LabelledEnum):
    """Commercial support of an activity (ACCME Standard 4): money, or goods and services."""

    MONETARY = "monetary", "Monetary"
    IN_KIND = "in_kind", "In kind"


class StatementKind(LabelledEnum):
    """What the public statement for one person in one activity says (``documents.data``)."""

    RELEVANT = ("relevant", "Relevant relationships, mitigated")
    NONE = ("none", "No relevant relationships")
    REVIEW = ("review", "Under review")  # what learners read for each is in wording.py
    AWAITING = ("awaiting", "No disclosure received yet")
    # An excluded owner or employee: staff replace them; nothing about them is printed.
    EXCLUDED = ("excluded", "Not presented to learners (excluded: to be replaced)")


class OpenPaymentsFile(LabelledEnum):
    """The three Open Payments files CMS publishes each program year."""

    GENERAL = ("general", "General payments")
    RESEARCH = ("research", "Research payments")
    OWNERSHIP = ("ownership", "Ownership and investment interests")


class OpenPaymentsAction(LabelledEnum):
    """What a reviewer did about payments missing from a disclosure (advisory check)."""

    ASKED_PERSON = ("asked_person", "Asked the person about it")
    EXPLAINED = ("explained", "Explained (e.g. not reportable, or outside the window)")
    NOT_APPLICABLE = ("not_applicable", "Not applicable (e.g. another person with this NPI)")


class JobKind(LabelledEnum):
    """Long work done by the worker (``disclosures.jobs``), at most one of a kind per meeting."""

    DISCLOSURE_REMINDERS = ("disclosure_reminders", "Disclosure reminders")
    REVIEW_SUMMARIES = ("review_summaries", "Reviewer summaries")
    PROGRAMME_IMPORT = ("programme_import", "Programme import")
    RECORDS_ZIP = ("records_zip", "Records ZIP")


class JobStatus(LabelledEnum):
    DRAFT = ("draft", "Previewed, not confirmed")  # a programme upload awaiting confirmation
    QUEUED = ("queued", "Waiting for a worker")
    RUNNING = ("running", "Running")
    DONE = ("done", "Finished")
    FAILED = ("failed", "Stopped with an error")


class DeliveryStatus(LabelledEnum):
    """One reminder message of a job: planned, handed to the server, accepted, refused."""

    PENDING = ("pending", "Not sent yet")
    SENDING = ("sending", "Being sent")
    SENT = ("sent", "Sent")
    FAILED = ("failed", "Refused by the mail server")
    SKIPPED = ("skipped", "Skipped")
    UNDELIVERED = ("undelivered", "Not delivered (mail sending is switched off)")
