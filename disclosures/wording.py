"""What attendees read about disclosure, worded once (ACCME Standard 3, "Disclose").

The room sheet and the all-faculty page (templates), their PDFs, the first slide and the
exports all take their sentences from here, so a learner reads the same words wherever
they look, and a change of wording is made in one place. Imports nothing from the package
but ``enums``.

The sentences hold no markup characters (``&``, ``<``, ``>``): callers escape what they
put in (Jinja autoescaping for pages, ``documents.text.markup`` for PDFs) and can compose
these functions with already-escaped text. Labelled sentences (``Labelled``) keep the
label apart so a page or a PDF can set it in bold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .enums import StatementKind

__all__ = [
    "AWAITING", "COMMERCIAL_SUPPORT", "EXCLUDED", "NOT_COMPLETE", "INTRO", "SHEET_INTRO", "pending", "LISTED_BY_FAMILY_NAME", "MITIGATED", "NO_ACTIVITIES",
    "NO_FACULTY_FOR_ACTIVITY", "NO_FACULTY_FOR_MEETING", "NO_RELATIONSHIPS",
    "OFF_LABEL_DEFAULT", "RELEVANT_HEADING", "UNDER_REVIEW", "UNDER_REVIEW_ON_SLIDE",
    "Labelled", "StatementKind", "closing", "commercial_support", "no_relationships",
    "supporter", "NOT_ACCREDITED", "NOT_ACCREDITED_HEADING", "POLICY_LINK",
    "off_label_sentence", "provided_by", "meeting_support",
]

# What a sheet is, at its top (it makes no claim about any one activity).
SHEET_INTRO = (
    "Under the ACCME Standards for Integrity and Independence in Accredited Continuing "
    "Education, everyone in control of the content of an activity discloses their financial "
    "relationships with ineligible companies, and relevant relationships are identified and "
    "mitigated before the activity. Below, each activity says whether that is complete."
)

# Said of one activity, and only when every role in it is cleared.
INTRO = (
    "In accordance with the ACCME Standards for Integrity and Independence in Accredited "
    "Continuing Education, everyone in control of the content of this activity disclosed "
    "their financial relationships with ineligible companies. Relevant relationships were "
    "identified and mitigated before the activity."
)
LISTED_BY_FAMILY_NAME = "Everyone in control of content is listed alphabetically by family name."

# A person's statement ends with one of these (``closing``).
MITIGATED = (
    "All relevant financial relationships listed for this individual have been mitigated."
)
NO_RELATIONSHIPS = (
    "has no relevant financial relationships with ineligible companies to disclose."
)
UNDER_REVIEW = "Disclosure under review."
# An activity whose only unfinished role is an excluded one (not printed): no name given.
NOT_COMPLETE = "Disclosure for this activity is not complete yet."
# The record of an excluded role's statement (never printed: the role is left off).
EXCLUDED = "Not presented to learners: excluded as an owner or employee, to be replaced."
# Never submitted, or expired (or submitted only) after the session started.
AWAITING = "No disclosure received yet."

# The first slide says a little more, to the speaker as much as to learners.
RELEVANT_HEADING = "Relevant financial relationships with ineligible companies:"
UNDER_REVIEW_ON_SLIDE = (
    "The disclosure will appear here once it is reviewed and any relevant relationships "
    "are mitigated."
)

COMMERCIAL_SUPPORT = "Commercial support:"
# When a person says the talk discusses off-label use but gives no detail.
OFF_LABEL_DEFAULT = ("This presentation includes discussion of off-label or investigational use "
                     "of a product.")

# Industry sessions and meals: listed apart, never under the Standard 3 statement.
NOT_ACCREDITED = "Not accredited for CME — not part of the accredited activity."
NOT_ACCREDITED_HEADING = "Not accredited for CME"
# The link to the accredited provider's disclosure policy.
POLICY_LINK = "Disclosure policy of the accredited provider"

NO_ACTIVITIES = "No activities are scheduled in this room."
NO_FACULTY_FOR_ACTIVITY = "No faculty are listed for this activity yet."
NO_FACULTY_FOR_MEETING = "No faculty are listed for this meeting yet."


class Labelled(NamedTuple):
    """A sentence whose first words are a label (set in bold): ``str()`` is the plain text."""

    label: str
    text: str

    def __str__(self) -> str:
        return f"{self.label} {self.text}"


def pending(names: Iterable[str]) -> str:
    """Said of an activity where not every role is cleared: who is still pending (no one
    named when only an excluded role, left off the sheet, is still to be replaced)."""
    names = list(names)
    if not names:
        return NOT_COMPLETE
    if len(names) == 1:
        who = names[0]
    else:
        who = ", ".join(names[:-1]) + " and " + names[-1]
    return (f"Disclosure for this activity is not complete: {who} "
            + ("is" if len(names) == 1 else "are") + " still pending (see below).")


def no_relationships(name: str) -> str:
    """"<name> has no relevant financial relationships with ineligible companies …"."""
    return f"{name} {NO_RELATIONSHIPS}"


def closing(kind: StatementKind, name: str) -> str:
    """The sentence that ends the statement of ``name``: mitigated, none, or under review."""
    if kind == StatementKind.REVIEW:
        return UNDER_REVIEW
    if kind == StatementKind.EXCLUDED:
        return EXCLUDED
    if kind == StatementKind.AWAITING:
        return AWAITING
    if kind == StatementKind.NONE:
        return no_relationships(name)
    return MITIGATED


def supporter(name: str, in_kind: str | None = None) -> str:
    """One commercial supporter: the name, and the nature of in-kind support if any."""
    return f"{name} (in-kind: {in_kind})" if in_kind else name


def commercial_support(supporters: Iterable[tuple[str, str | None]]) -> Labelled:
    """The acknowledgement of commercial support: (name, in-kind nature or None) pairs."""
    return Labelled(COMMERCIAL_SUPPORT, "this activity received commercial support from "
                    + "; ".join(supporter(name, in_kind) for name, in_kind in supporters) + ".")


def meeting_support(supporters: Iterable[tuple[str, str | None]]) -> Labelled:
    """The acknowledgement of commercial support of the whole meeting."""
    return Labelled(COMMERCIAL_SUPPORT, "this meeting received commercial support from "
                    + "; ".join(supporter(name, in_kind) for name, in_kind in supporters) + ".")


def provided_by(provider: str | None, joint_provider: str | None = None) -> str | None:
    """"Provided by X" or "Jointly provided by X and Y" (None when no provider is set)."""
    if provider and joint_provider:
        return f"Jointly provided by {provider} and {joint_provider}."
    if provider or joint_provider:
        return f"Provided by {provider or joint_provider}."
    return None


def off_label_sentence(detail: str) -> str:
    """The sentence learners read for one presentation: "This presentation includes
    discussion of …", completed with what the person declared for it. A detail that does
    not itself say off-label or investigational ("rhBMP-2 in the cervical spine") is
    introduced by "off-label or investigational use of"."""
    text = " ".join(detail.split()).rstrip(". ")
    if text == OFF_LABEL_DEFAULT.rstrip("."):
        return OFF_LABEL_DEFAULT
    if len(text) > 1 and text[0].isupper() and text[1].islower() and "-" in text.split()[0]:
        text = text[0].lower() + text[1:]  # "Off-label use of …" reads on after "of"
    if not any(word in text.lower() for word in ("off-label", "off label", "investigational",
                                                 "unlabeled", "unlabelled", "unapproved")):
        text = f"off-label or investigational use of {text}"
    return f"This presentation includes discussion of {text}."
