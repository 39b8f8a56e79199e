"""Public pages (no login): room sheets and the all-faculty page, their PDFs, and slides.

Attendees scan a room's QR code and land on ``/r/<token>``. Every response carries
an ETag and Last-Modified from ``documents.data`` change markers (one aggregate
query), answers 304 when nothing changed, and reuses rendered pages (memory) and
PDFs (disk, keyed by the marker) until the data they show changes. In front of that,
anonymous room sheets are kept per worker for ``PUBLIC_CACHE_SECONDS`` (``microcache``):
a burst of scans at session start costs a dict lookup, not the change-marker query.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime

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

from ..documents import booklet as booklet_doc
from ..documents import data
from ..documents import sheet as sheet_doc
from ..documents import slide as slide_doc
from ..documents.cache import cached_pdf
from ..extensions import db, limiter
from ..models import Activity, Assignment, Meeting
from ..permissions import disclosure_refusal, require
from . import microcache
from .forms import PageSizeForm, SearchForm

bp = Blueprint("public", __name__)

NOT_FOUND_ROOM = (
    "This room code is not valid any more. Codes are replaced when a sign is reprinted: "
    "scan the code posted at the room entrance now, or open the list of all faculty disclosures."
)


class _Memo:
    """A small thread-safe LRU for rendered pages and built booklets."""

    def __init__(self, size: int = 256):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


pages = _Memo(512)
booklets = _Memo(16)


def _now() -> datetime:
    return datetime.now(UTC)


def _period() -> int:
    return int(current_app.config.get("DOCUMENT_CACHE_SECONDS", 600))


def _is_fresh(marker: data.ChangeMarker) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains(marker.etag)
    since = request.if_modified_since
    return since is not None and marker.last_modified <= since


def _finish(response: Response, marker: data.ChangeMarker) -> Response:
    response.set_etag(marker.etag)
    response.last_modified = marker.last_modified
    # Revalidate every time: a re-issued room code must stop working at once.
    response.headers["Cache-Control"] = "public, no-cache"
    return response


def _not_modified(marker: data.ChangeMarker) -> Response:
    return _finish(Response(status=304), marker)


def _cacheable_render() -> bool:
    """Only anonymous pages without flashed messages are the same for everyone."""
    return not current_user.is_authenticated and not session.get("_flashes")


def _page(key, render) -> str:
    if not _cacheable_render():
        return render()
    html = pages.get(key)
    if html is None:
        html = render()
        pages.put(key, html)
    return html


def _size_or_400() -> str:
    form = PageSizeForm(request.args)
    if not form.validate():
        abort(400, description="Choose the paper size with ?size=letter or ?size=a4.")
    return form.page_size()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", data.fold(text)).strip("-")[:60] or "disclosures"


def _cached_pdf(kind: str, key: str, marker: data.ChangeMarker, size: str, build) -> bytes:
    return cached_pdf(current_app.config["DOCUMENT_CACHE_DIR"], kind, key, marker.etag, size, build)


def _pdf_response(content: bytes, filename: str, marker: data.ChangeMarker | None = None) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if marker is not None:
        _finish(response, marker)
    return response


def _room_or_404(token: str):
    """The room and its change marker. A replaced code's 404 names the meeting and links to
    its all-faculty disclosures (the old sign still hangs somewhere); an unknown code gets
    the generic 404. Neither sends an attendee to the login page."""
    from ..models import Room, RoomTokenRetired, hash_token  # (imports kept in this function)

    if len(token) > 64:
        abort(404, description=NOT_FOUND_ROOM)
    found = data.load_room(token, _now(), _period())
    if found is not None:
        return found
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


# --- Room sheets ---------------------------------------------------------------------------

def _sheet_key(kind: str, token: str) -> tuple[tuple, float]:
    """(micro-cache key, how long this request may reuse an entry: 0 for not at all).

    The raw ``?size=`` is part of a PDF's key, so a hit needs no form: only requests whose
    size the form accepted are ever stored. Logged-in users and flashed messages bypass."""
    seconds = float(current_app.config.get("PUBLIC_CACHE_SECONDS", 0))
    if seconds <= 0 or not _cacheable_render():
        seconds = 0.0
    return (kind, token, request.args.get("size") if kind.endswith("pdf") else None), seconds


def _through_microcache(kind: str, ident: str, respond, *, keep: bool = True) -> Response:
    """This worker's micro-cached answer (no query, no file read; 304 from the kept
    marker), or ``respond()``, whose 200 is kept for the next requests (see ``microcache``).
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
        _keep(key, microcache.Entry(data.ChangeMarker(etag, response.last_modified),
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
    room, marker = _room_or_404(token)
    if _is_fresh(marker):
        return _not_modified(marker)

    def render() -> str:
        sheet = data.room_sheet(room, _now(), as_of=marker.last_modified)
        return render_template("public/room_sheet.html", intro=data.INTRO, sheet=sheet, token=token,
                               meeting=room.meeting)

    html = _page(("room", token, marker.etag), render)
    return _finish(Response(html, mimetype="text/html"), marker)


@bp.route("/r/<token>.pdf")
def room_sheet_pdf(token: str):
    """The same sheet as a printable PDF (?size=letter|a4), cached on disk per change marker."""
    return _through_microcache("pdf", token, lambda: _room_sheet_pdf(token))


def _room_sheet_pdf(token: str) -> Response:
    size = _size_or_400()
    room, marker = _room_or_404(token)
    if _is_fresh(marker):
        return _not_modified(marker)
    content = _cached_pdf(
        "rooms", str(room.id), marker, size,
        lambda: sheet_doc.room_sheet_pdf(
            data.room_sheet(room, _now(), as_of=marker.last_modified), size),
    )
    return _pdf_response(content, f"disclosures-{_slug(room.name)}.pdf", marker)


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
    meeting = data.current_meeting(_now().date())
    if meeting is None:
        abort(404, description="No meeting has been published yet.")
    return meeting


def _meeting_by_slug(slug: str) -> Meeting:
    meeting = db.session.scalars(db.select(Meeting).where(Meeting.slug == slug)).first()
    if meeting is None:
        abort(404, description="There is no meeting at this address. Check the link you followed.")
    return meeting


def _meeting_marker(meeting: Meeting) -> data.ChangeMarker:
    """The meeting's change marker (one aggregate query, tens of milliseconds at 2,000 faculty),
    kept in this worker's micro-cache like the pages: a run of searches, each a different
    page, asks for it once per ``PUBLIC_CACHE_SECONDS``, and sees a change as soon as the
    letter pages do. Logged-in users always ask the database."""
    key, max_age = _sheet_key("faculty-marker", str(meeting.id))
    entry = microcache.sheets.get(key, max_age) if max_age else None
    if entry is not None:
        return entry.marker
    generation = microcache.sheets.generation
    marker = data.meeting_marker(meeting, _now(), _period())
    if max_age:
        _keep(key, microcache.Entry(marker, b"", (), microcache.clock()), generation, max_age)
    return marker


def _booklet(meeting: Meeting, marker: data.ChangeMarker) -> data.Booklet:
    key = (meeting.id, marker.etag)
    built = booklets.get(key)
    if built is None:
        built = data.booklet(meeting, _now(), as_of=marker.last_modified)
        booklets.put(key, built)
    return built


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
        "public/all_faculty.html", intro=data.INTRO, meeting=meeting, booklet=booklet, form=form,
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

    def render() -> str:
        booklet = _booklet(meeting, marker)
        everyone = data.people_page(booklet.people, 1, LETTER_PAGE_SIZE)
        return _render_faculty(meeting, slug, booklet, form,
                               page=everyone if everyone.count == 1 else None)

    html = _page(("faculty", meeting.id, marker.etag, slug is None), render)
    return _finish(Response(html, mimetype="text/html"), marker)


def _search(meeting: Meeting, slug: str | None, form: SearchForm, query: str,
            marker: data.ChangeMarker) -> Response:
    """One page of the people whose name or statement's company contains ``query``; each
    search page has its own validator. Not kept: searches are many and rarely repeated."""
    number = form.page_number()
    digest = hashlib.sha256(f"{data.fold(query)}\x00{number}".encode()).hexdigest()[:12]
    search_marker = data.ChangeMarker(f"{marker.etag}-{digest}", marker.last_modified)
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

    def render() -> str:
        booklet = _booklet(meeting, marker)
        page = data.people_page(booklet.by_letter.get(letter, ()), number, LETTER_PAGE_SIZE)
        if page is None:
            abort(404, description=f"There is no page {number} under {_letter_label(letter)}: "
                  "choose a letter or a page on the all-faculty page.")
        return _render_faculty(meeting, slug, booklet, SearchForm(formdata=None), letter=letter,
                               page=page)

    html = _page(("faculty-letter", meeting.id, marker.etag, slug is None, letter, number), render)
    return _finish(Response(html, mimetype="text/html"), marker)


def _all_faculty_pdf(meeting: Meeting, slug: str | None) -> Response:
    size = _size_or_400()
    marker = _meeting_marker(meeting)
    if _is_fresh(marker):
        return _not_modified(marker)
    content = _cached_pdf("booklets", str(meeting.id), marker, size,
                          lambda: booklet_doc.booklet_pdf(_booklet(meeting, marker), size))
    return _pdf_response(content, f"faculty-disclosures-{_slug(meeting.slug)}.pdf", marker)


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
        )
    ).first()
    if assignment is None or assignment.is_removed:
        abort(404, description="This role does not exist or was removed from the programme.")
    refusal = disclosure_refusal(current_user, assignment.user)
    require(refusal is None, refusal)
    content = slide_doc.slide_pdf(data.slide(assignment, _now()))
    return _pdf_response(content, f"disclosure-slide-{_slug(assignment.activity.code)}.pdf")
