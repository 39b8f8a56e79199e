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

from flask import Blueprint, Response, abort, current_app, render_template, request, session
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from ..documents import booklet as booklet_doc
from ..documents import data
from ..documents import sheet as sheet_doc
from ..documents import slide as slide_doc
from ..documents.cache import cached_pdf
from ..extensions import db
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
        config = current_app.config
        headers = tuple((k, v) for k, v in response.headers.items() if k != "Content-Length")
        entry = microcache.Entry(data.ChangeMarker(etag, response.last_modified),
                                 response.get_data(), headers, microcache.clock())
        microcache.sheets.put(key, entry, generation, max_age=max_age,
                              max_entries=int(config.get("PUBLIC_CACHE_MAX_ENTRIES", 1024)),
                              max_bytes=int(config.get("PUBLIC_CACHE_MAX_BYTES", 64 * 1024 * 1024)))
    return response


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


def _booklet(meeting: Meeting, marker: data.ChangeMarker) -> data.Booklet:
    key = (meeting.id, marker.etag)
    built = booklets.get(key)
    if built is None:
        built = data.booklet(meeting, _now(), as_of=marker.last_modified)
        booklets.put(key, built)
    return built


def _all_faculty(meeting: Meeting) -> Response:
    form = SearchForm(request.args)
    marker = data.meeting_marker(meeting, _now(), _period())
    if not form.validate():
        html = render_template("public/all_faculty.html", intro=data.INTRO, meeting=meeting, form=form,
                               booklet=_booklet(meeting, marker), people=(), query="")
        return Response(html, status=400, mimetype="text/html")
    query = (form.q.data or "").strip()
    if query:  # each search has its own validator
        digest = hashlib.sha256(data.fold(query).encode()).hexdigest()[:12]
        marker = data.ChangeMarker(f"{marker.etag}-{digest}", marker.last_modified)
    if _is_fresh(marker):
        return _not_modified(marker)

    def render() -> str:
        booklet = _booklet(meeting, marker_base)
        return render_template("public/all_faculty.html", intro=data.INTRO, meeting=meeting, form=form,
                               booklet=booklet, people=booklet.search(query), query=query)

    marker_base = data.ChangeMarker(marker.etag.split("-")[0], marker.last_modified)
    html = render() if query else _page(("faculty", meeting.id, marker.etag), render)
    return _finish(Response(html, mimetype="text/html"), marker)


def _all_faculty_pdf(meeting: Meeting) -> Response:
    size = _size_or_400()
    marker = data.meeting_marker(meeting, _now(), _period())
    if _is_fresh(marker):
        return _not_modified(marker)
    content = _cached_pdf("booklets", str(meeting.id), marker, size,
                          lambda: booklet_doc.booklet_pdf(_booklet(meeting, marker), size))
    return _pdf_response(content, f"faculty-disclosures-{_slug(meeting.slug)}.pdf", marker)


def _faculty_response(kind: str, slug: str | None, respond) -> Response:
    """The all-faculty page or booklet through the same micro-cache as the room sheets:
    every room sheet links here, so it gets the same burst. Searches are not kept."""
    def resolve() -> Response:
        return respond(_current_meeting_or_404() if slug is None else _meeting_by_slug(slug))

    return _through_microcache(kind, slug or "", resolve,
                               keep=kind != "faculty" or not request.args)


@bp.route("/disclosures")
def all_faculty():
    """Every person in the current meeting (running, else next, else latest), searchable."""
    return _faculty_response("faculty", None, _all_faculty)


@bp.route("/disclosures.pdf")
def all_faculty_pdf():
    return _faculty_response("faculty-pdf", None, _all_faculty_pdf)


@bp.route("/m/<slug>/disclosures")
def meeting_faculty(slug: str):
    return _faculty_response("faculty", slug, _all_faculty)


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
