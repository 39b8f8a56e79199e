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
    """Natures of a financial relationship named by ACCME Standard 3."""

    EMPLOYEE = ("employee", "Employee")
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
    EXECUTIVE = ("executive", "Executive role")
    OWNERSHIP = (
        "ownership",
        "Ownership interest (including stock and stock options)",
        "Individual stocks and stock options count; diversified mutual funds do not.",
    )
    OTHER = ("other", "Other")

    @property
    def makes_owner_or_employee(self) -> bool:
        return self in (Nature.EMPLOYEE, Nature.OWNERSHIP)


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
    """Standard 3 exceptions under which an owner or employee may still control content."""

    UNRELATED = ("unrelated", "Content is not related to the company's business lines or products")
    BASIC_SCIENCE = (
        "basic_science",
        "Content is limited to basic science research and makes no care recommendations",
    )
    DEVICE_TRAINING = (
        "device_training",
        "Teaching the safe and proper use of a medical device, without recommending whether or when to use it",
    )
    NONE = ("none", "No exception applies: the person may not control this content")


class ReminderKind(LabelledEnum):
    DISCLOSURE = ("disclosure", "Disclosure reminder")
    REVIEW_SUMMARY = ("review_summary", "Reviewer summary")


class StatementKind(LabelledEnum):
    """What the public statement for one person in one activity says (``documents.data``)."""

    RELEVANT = ("relevant", "Relevant relationships, mitigated")
    NONE = ("none", "No relevant relationships")
    REVIEW = ("review", "Under review")  # what learners read for each is in wording.py
    AWAITING = ("awaiting", "No disclosure received yet")


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
