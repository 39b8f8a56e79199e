"""What attendees read is worded once (``disclosures.wording``): every page and PDF that shows
a statement takes it from there, so changing a sentence there changes it everywhere."""

from __future__ import annotations

import pytest

from disclosures import wording
from disclosures.documents import booklet, data, sheet, slide
from disclosures.enums import AssignmentRole, Nature, StatementKind
from disclosures.extensions import db
from disclosures.publication.operations import latest_sheet

from . import factories
from .test_public_sheet import html_text, pdf_text

# Where each sentence shows: the room sheet and all-faculty pages, and the three PDFs.
EVERYWHERE = ("room page", "faculty page", "sheet pdf", "booklet pdf", "slide pdf")
SHOWN_IN = {
    "SHEET_INTRO": ("room page", "faculty page", "sheet pdf", "booklet pdf"),
    "INTRO": ("room page", "sheet pdf"),  # under each activity whose roles are all cleared
    "AWAITING": ("room page", "faculty page", "sheet pdf", "booklet pdf"),
    "LISTED_BY_FAMILY_NAME": ("faculty page", "booklet pdf"),
    "MITIGATED": EVERYWHERE,
    "NO_RELATIONSHIPS": EVERYWHERE,
    "UNDER_REVIEW": EVERYWHERE,
    "COMMERCIAL_SUPPORT": EVERYWHERE,  # Standard 4: sheet, all-faculty page, booklet, slide
    "OFF_LABEL_DEFAULT": EVERYWHERE,  # only for the presentation that declared it
    "POLICY_LINK": EVERYWHERE,  # the provider's disclosure policy, on every document
    # Listed apart, on every list of the meeting; its speaker's slide says so too.
    "NOT_ACCREDITED": EVERYWHERE,
    "NOT_ACCREDITED_HEADING": ("room page", "faculty page", "sheet pdf", "booklet pdf"),
    "RELEVANT_HEADING": ("slide pdf",),
    "UNDER_REVIEW_ON_SLIDE": ("slide pdf",),
}


@pytest.fixture()
def meeting_in_every_state(app):
    return build_world()


def build_world():
    """One talk: a mitigated relevant relationship (off-label, no detail given), a person
    without relationships, one awaiting review, one who sent nothing; a commercial
    supporter; a second activity whose only role is cleared; an industry session (not
    accredited); the accredited provider and its disclosure policy."""
    meeting = factories.meeting(name="Wording Meeting", provider_name="Wording Society",
                                disclosure_policy_url="https://cme.example.org/policy")
    room = factories.room(meeting, "Hall W")
    activity = factories.activity(meeting, room, title="Cervical talk",
                                  commercial_supporters=[{"name": "Sponsor Co", "in_kind": None}])
    reviewer = factories.reviewer(meeting)
    relevant = factories.user(full_name="Rhea Relevant", degrees=None)
    disclosure = factories.disclosure(relevant, [(factories.company("Device Co"), Nature.CONSULTANT)])
    talk = factories.assignment(relevant, activity, AssignmentRole.SPEAKER, discusses_off_label=True)
    factories.mitigation(factories.determination(disclosure.relationships[0], talk, reviewer,
                                                 relevant=True), reviewer)
    nobody = factories.user(full_name="Nate None", degrees=None)
    factories.disclosure(nobody, [])
    moderation = factories.assignment(nobody, activity, AssignmentRole.MODERATOR)
    pending = factories.user(full_name="Pia Pending", degrees=None)
    factories.disclosure(pending, [(factories.company("Pending Co"), Nature.ADVISOR)])
    panel = factories.assignment(pending, activity, AssignmentRole.PANELIST)
    factories.assignment(factories.user(full_name="Sam Silent", degrees=None), activity,
                         AssignmentRole.PANELIST)
    factories.assignment(nobody, factories.activity(meeting, room, title="Closing remarks"),
                         AssignmentRole.MODERATOR)
    industry = factories.activity(meeting, room, title="Industry lunch", is_accredited=False)
    lunch = factories.assignment(factories.user(full_name="Ivy Industry", degrees=None), industry)
    db.session.commit()
    return {"meeting": meeting, "room": room, "slides": [talk, moderation, panel, lunch]}


def _everything_attendees_read(client, world) -> dict[str, str]:
    meeting, room = world["meeting"], world["room"]
    return {
        "room page": html_text(client.get(f"/r/{room.public_token}")),
        "faculty page": html_text(client.get(f"/m/{meeting.slug}/disclosures")),
        "sheet pdf": pdf_text(sheet.room_sheet_pdf(data.room_sheet(latest_sheet(room)))),
        "booklet pdf": pdf_text(booklet.booklet_pdf(data.booklet(meeting))),
        "slide pdf": " ".join(pdf_text(slide.slide_pdf(data.slide(a))) for a in world["slides"]),
    }


@pytest.mark.parametrize("name", sorted(SHOWN_IN))
def test_each_attendee_sentence_is_read_from_wording_wherever_it_shows(
        client, app, monkeypatch, name):
    marker = f"Qz{name.title().replace('_', '')}Qz"
    monkeypatch.setattr(wording, name, marker)
    # Published after the change: statements are records, composed when they are published.
    shown = _everything_attendees_read(client, build_world())
    for where, text in shown.items():
        assert (marker in text) == (where in SHOWN_IN[name]), f"{name} in the {where}"


def test_statements_read_the_same_in_pages_and_pdfs(client, meeting_in_every_state):
    for where, text in _everything_attendees_read(client, meeting_in_every_state).items():
        assert wording.MITIGATED in text, where
        assert wording.no_relationships("Nate None") in text, where
        assert wording.UNDER_REVIEW in text, where
        assert wording.OFF_LABEL_DEFAULT in text, where
        assert text.count(wording.OFF_LABEL_DEFAULT) == 1, where  # one presentation declared it
        assert str(wording.commercial_support([("Sponsor Co", None)])) in text, where
        assert "Provided by Wording Society." in text, where


def test_sentences_hold_no_markup_characters():
    """They are composed with text escaped for HTML or for ReportLab, so they must not need it."""
    sentences = [getattr(wording, name) for name in wording.__all__ if name.isupper()]
    assert len(sentences) >= 12
    for value in sentences:
        assert not set(value) & set("&<>"), value


def test_composed_sentences():
    assert wording.no_relationships("Dr A") == f"Dr A {wording.NO_RELATIONSHIPS}"
    assert [wording.closing(kind, "Dr A") for kind in StatementKind] == [
        wording.MITIGATED, wording.no_relationships("Dr A"), wording.UNDER_REVIEW, wording.AWAITING,
        wording.EXCLUDED]  # the record of an excluded role (never printed: left off)
    support = wording.commercial_support([("A", None), ("B", "loaned devices")])
    assert support.label == wording.COMMERCIAL_SUPPORT
    assert str(support) == f"{support.label} {support.text}"
    assert support.text.endswith(" A; B (in-kind: loaned devices).")
    assert wording.off_label_sentence("rhBMP-2 in the cervical spine") == (
        "This presentation includes discussion of off-label or investigational use of rhBMP-2 "
        "in the cervical spine.")
    assert wording.off_label_sentence("Off-label use of drug Z.") == (
        "This presentation includes discussion of off-label use of drug Z.")
    assert wording.provided_by("A", "B") == "Jointly provided by A and B."
    assert wording.provided_by("A", None) == "Provided by A."
    assert wording.provided_by(None, None) is None


def test_statement_kind_accepts_the_stored_words():
    assert data.Statement("none") == data.Statement(StatementKind.NONE)
    assert data.Statement("review").kind is StatementKind.REVIEW
    with pytest.raises(ValueError):
        data.Statement("mitigated")
