"""Public pages (no login): room sheets and the all-faculty pages, their PDFs, and slides.

Attendees scan a room's QR code and land on ``/r/<token>``. What they read is the
published record (``disclosures.publication``): a room sheet is the room's latest
``SheetVersion`` (or, with ``?version=N`` or ``?at=YYYY-MM-DDTHH:MM`` in the meeting's
time, the one public then: it was public, so it stays public), and its PDF is that
version's stored bytes. The all-faculty pages and the booklet show each role's published
statement at the meeting's current publication step. ETags come from those versions, so
a conditional request costs one indexed look-up; anonymous answers are also kept per
worker for ``PUBLIC_CACHE_SECONDS`` (``microcache``), so a burst of scans at session start
costs a dict lookup.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from .. import clock
from ..documents import data
from ..documents import slide as slide_doc
from ..documents.text import fold
from ..enums import AssignmentState
from ..extensions import db, limiter
from ..models import Activity, Assignment, Meeting, PublicationStep, Room, SheetVersion
from ..permissions import disclosure_refusal, require
from ..publication import operations as publication
from . import microcache
from .forms import PageSizeForm, SearchForm, VersionForm
from .microcache import Validator

bp = Blueprint("public", __name__)

NOT_FOUND_ROOM = (
    "This room code is not valid any more. Codes are replaced when a sign is reprinted: "
    "scan the code posted at the room entrance now, or open the list of all faculty disclosures."
)


class _Booklets:
    """The last few booklets this worker built (keyed by meeting and publication step): the
    letter pages and searches of a large meeting read one booklet, built in one query."""

    def __init__(self, size: int = 16):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.times: OrderedDict = OrderedDict()  # (meeting, step) → when the step was taken
        self.lock = threading.Lock()

    def get(self, meeting: Meeting) -> data.Booklet:
        key = (meeting.id, meeting.publication_seq)
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
                return found
        built = data.booklet(meeting)
        with self.lock:
            self.items[key] = built
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return built

    def step_time(self, meeting: Meeting, read) -> datetime:
        key = (meeting.id, meeting.publication_seq)
        with self.lock:
            found = self.times.get(key)
        if found is None:
            found = read() or meeting.created_at
            with self.lock:
                self.times[key] = found
                while len(self.times) > self.size:
                    self.times.popitem(last=False)
        return found

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.times.clear()


booklets = _Booklets()


def _is_fresh(validator: Validator) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains(validator.etag)
    since = request.if_modified_since
    return since is not None and validator.last_modified.replace(microsecond=0) <= since


def _finish(response: Response, validator: Validator) -> Response:
    response.set_etag(validator.etag)
    response.last_modified = validator.last_modified.replace(microsecond=0)
    # Revalidate every time: a re-issued room code must stop working at once.
    response.headers["Cache-Control"] = "public, no-cache"
    return response


def _not_modified(validator: Validator) -> Response:
    return _finish(Response(status=304), validator)


def _cacheable_render() -> bool:
    """Only anonymous pages without flashed messages are the same for everyone."""
    return not current_user.is_authenticated and not session.get("_flashes")


def _size_or_400() -> str:
    form = PageSizeForm(request.args)
    if not form.validate():
        abort(400, description="Choose the paper size with ?size=letter or ?size=a4.")
    return form.page_size()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")[:60] or "disclosures"


def _pdf_response(content: bytes, filename: str, validator: Validator | None = None) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if validator is not None:
        _finish(response, validator)
    return response


def _room_or_404(token: str) -> Room:
    """The room with this code. A replaced code's 404 names the meeting and links to its
    all-faculty disclosures (the old sign still hangs somewhere); an unknown code gets the
    generic 404. Neither sends an attendee to the login page."""
    from ..models import RoomTokenRetired, hash_token  # (imports kept in this function)

    if len(token) > 64:
        abort(404, description=NOT_FOUND_ROOM)
    room = db.session.scalars(
        db.select(Room).where(Room.public_token == token).options(joinedload(Room.meeting))
    ).first()
    if room is not None:
        return room
    replaced = db.session.execute(
        db.select(Room.name, Meeting.name, Meeting.slug)
        .join(RoomTokenRetired, RoomTokenRetired.room_id == Room.id)
        .join(Meeting, Meeting.id == Room.meeting_id)
        .where(RoomTokenRetired.token_hash == hash_token(token))
    ).first()
    if replaced is None:
        abort(404, description=NOT_FOUND_ROOM)
    room_name, meeting_name, slug = replaced
    html = render_template("errors/room_replaced.html", room_name=room_name,
                           meeting_name=meeting_name, slug=slug)
    abort(Response(html, status=404, mimetype="text/html"))


def _sheet_version(room: Room) -> SheetVersion:
    """The version asked for (``?version=N`` or ``?at=`` in the meeting's time), else the
    latest; 400 for a request that does not parse, 404 for a version that never was."""
    form = VersionForm(request.args)
    if not form.validate():
        abort(400, description=" ".join(e for errors in form.errors.values() for e in errors))
    if form.version.data is None and form.at.data is None:
        version = publication.latest_sheet(room)
        if version is None:  # a room from before the published record: publish it now
            publication.refresh(rooms=[room.id])
            db.session.commit()
            version = publication.latest_sheet(room)
        return version
    if form.version.data is not None:
        version = publication.sheet_version(room, number=form.version.data)
        if version is None:
            abort(404, description=f"This room's sheet has no version {form.version.data}. "
                  "Leave out ?version= to read the current one.")
        return version
    moment = form.at.data.replace(tzinfo=room.meeting.tz)
    version = publication.sheet_version(room, at=moment)
    if version is None:
        abort(404, description="This room's sheet was not yet published at that time.")
    return version


def _validator(version: SheetVersion, size: str | None = None) -> Validator:
    tag = f"r{version.room_id}.{version.number}" + (f".{size}" if size else "")
    return Validator(tag, version.valid_from)


# --- Room sheets ---------------------------------------------------------------------------

def _sheet_key(kind: str, token: str) -> tuple[tuple, float]:
    """(micro-cache key, how long this request may reuse an entry: 0 for not at all).

    The raw ``?size=`` is part of a PDF's key, so a hit needs no form: only requests whose
    size the form accepted are ever stored. Logged-in users, flashed messages and requests
    for an earlier version bypass."""
    seconds = float(current_app.config.get("PUBLIC_CACHE_SECONDS", 0))
    if seconds <= 0 or not _cacheable_render() or "version" in request.args or "at" in request.args:
        seconds = 0.0
    return (kind, token, request.args.get("size") if kind.endswith("pdf") else None), seconds


def _through_microcache(kind: str, ident: str, respond, *, keep: bool = True) -> Response:
    """This worker's micro-cached answer (no query; 304 from the kept validator), or
    ``respond()``, whose 200 is kept for the next requests (see ``microcache``).
    ``keep=False``: neither read nor stored (searches)."""
    key, max_age = _sheet_key(kind, ident)
    if not keep:
        max_age = 0.0
    entry = microcache.sheets.get(key, max_age) if max_age else None
    if entry is not None:
        if _is_fresh(entry.marker):
            return _not_modified(entry.marker)
        return Response(entry.content, headers=entry.headers)
    generation = microcache.sheets.generation
    response = respond()
    etag, _weak = response.get_etag()
    if max_age and response.status_code == 200 and etag and response.last_modified:
        headers = tuple((k, v) for k, v in response.headers.items() if k != "Content-Length")
        _keep(key, microcache.Entry(Validator(etag, response.last_modified),
                                    response.get_data(), headers, microcache.clock()),
              generation, max_age)
    return response


def _keep(key: tuple, entry: microcache.Entry, generation: int, max_age: float) -> None:
    config = current_app.config
    microcache.sheets.put(key, entry, generation, max_age=max_age,
                          max_entries=int(config.get("PUBLIC_CACHE_MAX_ENTRIES", 1024)),
                          max_bytes=int(config.get("PUBLIC_CACHE_MAX_BYTES", 64 * 1024 * 1024)))


@bp.route("/r/<token>")
def room_sheet(token: str):
    """The disclosure sheet of one room, made for a phone."""
    return _through_microcache("html", token, lambda: _room_sheet(token))


def _room_sheet(token: str) -> Response:
    room = _room_or_404(token)
    version = _sheet_version(room)
    validator = _validator(version)
    if _is_fresh(validator):
        return _not_modified(validator)
    latest = "version" not in request.args and "at" not in request.args
    today = clock.meeting_today(room.meeting) if latest else None
    sheet = data.room_sheet(version, today=today)
    html = render_template("public/room_sheet.html", sheet=sheet, token=token,
                           meeting=room.meeting, latest=latest)
    return _finish(Response(html, mimetype="text/html"), validator)


@bp.route("/r/<token>.pdf")
def room_sheet_pdf(token: str):
    """The same sheet as a printable PDF (?size=letter|a4): the version's stored bytes."""
    return _through_microcache("pdf", token, lambda: _room_sheet_pdf(token))


def _room_sheet_pdf(token: str) -> Response:
    size = _size_or_400()
    room = _room_or_404(token)
    version = _sheet_version(room)
    validator = _validator(version, size)
    if _is_fresh(validator):
        return _not_modified(validator)
    stored = publication.sheet_pdf(version, size)
    microcache.commit_derived(db.session)  # a PDF built now is kept for every server (and verify-sheet)
    return _pdf_response(stored.content,
                         f"disclosures-{_slug(room.name)}-v{version.number}.pdf", validator)


# --- All faculty ---------------------------------------------------------------------------
#
# /disclosures (the current meeting) and /m/<slug>/disclosures: the search form, the letters of
# the family names and, for a meeting of at most LETTER_PAGE_SIZE people, everyone. Each letter
# has its pages /…/disclosures/<letter>[/<n>] (LETTER_PAGE_SIZE people each), so no page grows
# with the meeting: at 2,000 faculty one page of everyone was 1.9 MB. A search (?q=, at least
# two letters) answers SEARCH_PAGE_SIZE people a page (?page=n) and is rate-limited per client;
# the letter pages and room sheets never are.

SEARCH_PAGE_SIZE = 50
LETTER_PAGE_SIZE = 100

SEARCH_LIMITED = (
    "Searches from your connection are limited to a few a minute, and that many were made "
    "just now. Wait a minute and search again, or open the faculty list without a search and "
    "choose the first letter of the family name: browsing by letter is never limited."
)


def _search_rate_limit() -> str:
    return current_app.config["SEARCH_RATE_LIMIT"]


def _not_a_search() -> bool:
    return not (request.args.get("q") or "").strip()


# One budget for both addresses of the page (current meeting and by slug).
_search_limit = limiter.shared_limit(_search_rate_limit, scope="public-search",
                                     exempt_when=_not_a_search, error_message=SEARCH_LIMITED)


def _letter_label(letter: str) -> str:
    return letter.upper() if len(letter) == 1 else "Other"


def _faculty_url(slug: str | None, letter: str | None = None, number: int = 1, **args) -> str:
    """The address of the all-faculty page (``slug`` None: the current meeting's), of page
    ``number`` of one of its letters, or of a search (``args``: q, page)."""
    prefix = "public.all_faculty" if slug is None else "public.meeting_faculty"
    values = {} if slug is None else {"slug": slug}
    if letter is None:
        return url_for(prefix, **values, **args)
    return url_for(f"{prefix}_letter", letter=letter, page=number, **values)


def _current_meeting_or_404() -> Meeting:
    meeting = data.current_meeting(clock.now().date())
    if meeting is None:
        abort(404, description="No meeting has been published yet.")
    return meeting


def _meeting_by_slug(slug: str) -> Meeting:
    meeting = db.session.scalars(db.select(Meeting).where(Meeting.slug == slug)).first()
    if meeting is None:
        abort(404, description="There is no meeting at this address. Check the link you followed.")
    return meeting


def _meeting_marker(meeting: Meeting) -> Validator:
    """The all-faculty pages' validator: the meeting's publication step (no query: the
    meeting row holds it) and when it was taken."""
    return Validator(f"m{meeting.id}.{meeting.publication_seq}", _step_time(meeting))


def _step_time(meeting: Meeting) -> datetime:
    """When the meeting's current publication step was taken (kept with its booklet: a
    step never changes, so a flood of searches asks for it once)."""
    return booklets.step_time(meeting, lambda: db.session.scalar(db.select(PublicationStep.at).where(
        PublicationStep.meeting_id == meeting.id, PublicationStep.seq == meeting.publication_seq)))


def _booklet(meeting: Meeting, marker) -> data.Booklet:
    return booklets.get(meeting)


def _render_faculty(meeting: Meeting, slug: str | None, booklet: data.Booklet, form: SearchForm, *,
                    letter: str | None = None, page: data.PeoplePage | None = None,
                    query: str = "") -> str:
    """The all-faculty page in any of its forms: the letters, then ``page`` (of a letter, of a
    search, or everyone of a small meeting) or nothing (a search the form refused)."""
    letters = [(key, _letter_label(key), len(people), _faculty_url(slug, key))
               for key, people in booklet.by_letter.items()]

    def page_url(number: int) -> str:
        if query:
            return _faculty_url(slug, q=query, page=number)
        return _faculty_url(slug, letter, number)

    return render_template(
        "public/all_faculty.html", meeting=meeting, booklet=booklet, form=form,
        planning=data.planning_roles(meeting) if not (letter or query) else (),
        letters=letters, letter=letter, letter_label=_letter_label(letter) if letter else None,
        page=page, query=query, page_url=page_url, index_url=_faculty_url(slug),
        pdf_url=url_for("public.all_faculty_pdf") if slug is None
        else url_for("public.meeting_faculty_pdf", slug=slug))


def _all_faculty(meeting: Meeting, slug: str | None) -> Response:
    form = SearchForm(request.args)
    marker = _meeting_marker(meeting)
    if not form.validate():
        html = _render_faculty(meeting, slug, _booklet(meeting, marker), form)
        return Response(html, status=400, mimetype="text/html")
    query = form.query()
    if query:
        return _search(meeting, slug, form, query, marker)
    if _is_fresh(marker):
        return _not_modified(marker)

    booklet = _booklet(meeting, marker)
    everyone = data.people_page(booklet.people, 1, LETTER_PAGE_SIZE)
    html = _render_faculty(meeting, slug, booklet, form,
                           page=everyone if everyone.count == 1 else None)
    return _finish(Response(html, mimetype="text/html"), marker)


def _search(meeting: Meeting, slug: str | None, form: SearchForm, query: str,
            marker: Validator) -> Response:
    """One page of the people whose name or statement's company contains ``query``; each
    search page has its own validator. Not kept: searches are many and rarely repeated."""
    number = form.page_number()
    digest = hashlib.sha256(f"{fold(query)}\x00{number}".encode()).hexdigest()[:12]
    search_marker = Validator(f"{marker.etag}-{digest}", marker.last_modified)
    if _is_fresh(search_marker):
        return _not_modified(search_marker)
    booklet = _booklet(meeting, marker)
    page = data.people_page(booklet.search(query), number, SEARCH_PAGE_SIZE)
    if page is None:
        abort(404, description=f"There is no page {number} of this search. Follow the page links "
              "under the results, or search again.")
    html = _render_faculty(meeting, slug, booklet, form, page=page, query=query)
    return _finish(Response(html, mimetype="text/html"), search_marker)


def _letter_page(meeting: Meeting, slug: str | None, letter: str, number: int) -> Response:
    if letter not in data.LETTERS:
        abort(404, description="Faculty are listed under the letters A to Z and Other: choose one "
              "on the all-faculty page.")
    marker = _meeting_marker(meeting)
    if _is_fresh(marker):
        return _not_modified(marker)

    booklet = _booklet(meeting, marker)
    page = data.people_page(booklet.by_letter.get(letter, ()), number, LETTER_PAGE_SIZE)
    if page is None:
        abort(404, description=f"There is no page {number} under {_letter_label(letter)}: "
              "choose a letter or a page on the all-faculty page.")
    html = _render_faculty(meeting, slug, booklet, SearchForm(formdata=None), letter=letter,
                           page=page)
    return _finish(Response(html, mimetype="text/html"), marker)


def _all_faculty_pdf(meeting: Meeting, slug: str | None) -> Response:
    size = _size_or_400()
    marker = _meeting_marker(meeting)
    if _is_fresh(marker):
        return _not_modified(marker)
    stored = publication.booklet_pdf(meeting, size, lambda: _booklet(meeting, marker))
    microcache.commit_derived(db.session)  # a PDF built now is kept for every server (and verify-sheet)
    return _pdf_response(stored.content, f"faculty-disclosures-{_slug(meeting.slug)}"
                         f"-v{meeting.publication_seq}.pdf", marker)


def _faculty_response(kind: str, slug: str | None, respond, *parts) -> Response:
    """The all-faculty pages and booklet through the same micro-cache as the room sheets:
    every room sheet links here, so they get the same burst. Searches (any query string on
    a page) are neither kept nor served from it."""
    def resolve() -> Response:
        meeting = _current_meeting_or_404() if slug is None else _meeting_by_slug(slug)
        return respond(meeting, slug, *parts)

    ident = "/".join([slug or "", *map(str, parts)])
    return _through_microcache(kind, ident, resolve,
                               keep=kind.endswith("pdf") or not request.args)


@bp.route("/disclosures")
@_search_limit
def all_faculty():
    """The current meeting (running, else next, else latest): search, letters, small: everyone."""
    return _faculty_response("faculty", None, _all_faculty)


@bp.route("/disclosures/<letter>", defaults={"page": 1})
@bp.route("/disclosures/<letter>/<int:page>")
def all_faculty_letter(letter: str, page: int):
    """The people of the current meeting whose family name starts with ``letter``, page by
    page (``…/k/1`` redirects to ``…/k``)."""
    return _faculty_response("faculty-letter", None, _letter_page, letter, page)


@bp.route("/disclosures.pdf")
def all_faculty_pdf():
    return _faculty_response("faculty-pdf", None, _all_faculty_pdf)


@bp.route("/m/<slug>/disclosures")
@_search_limit
def meeting_faculty(slug: str):
    return _faculty_response("faculty", slug, _all_faculty)


@bp.route("/m/<slug>/disclosures/<letter>", defaults={"page": 1})
@bp.route("/m/<slug>/disclosures/<letter>/<int:page>")
def meeting_faculty_letter(slug: str, letter: str, page: int):
    return _faculty_response("faculty-letter", slug, _letter_page, letter, page)


@bp.route("/m/<slug>/disclosures.pdf")
def meeting_faculty_pdf(slug: str):
    return _faculty_response("faculty-pdf", slug, _all_faculty_pdf)


# --- First slide ---------------------------------------------------------------------------

@bp.route("/assignments/<int:assignment_id>/slide.pdf")
@login_required
def assignment_slide(assignment_id: int):
    """A 16:9 first-slide disclosure: for the person themself, reviewers and staff."""
    assignment = db.session.scalars(
        db.select(Assignment).where(Assignment.id == assignment_id).options(
            joinedload(Assignment.user),
            joinedload(Assignment.activity).joinedload(Activity.meeting),
            joinedload(Assignment.activity).joinedload(Activity.room),
            joinedload(Assignment.statement),
        )
    ).first()
    if assignment is None or assignment.is_removed:
        abort(404, description="This role does not exist or was removed from the programme.")
    if assignment.activity is None:
        abort(404, description="A role held for the whole meeting (planning, review) has no "
                               "presentation, so no first slide.")
    refusal = disclosure_refusal(current_user, assignment.user)
    require(refusal is None, refusal)
    if assignment.state is AssignmentState.EXCLUDED:  # never presented to learners
        abort(404, description="No disclosure slide is made for this role: the person is "
                               "excluded as an owner or employee of an ineligible company, "
                               "and staff are replacing them.")
    content = slide_doc.slide_pdf(data.slide(assignment))
    return _pdf_response(content, f"disclosure-slide-{_slug(assignment.activity.code)}.pdf")
