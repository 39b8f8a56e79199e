"""The read-only JSON API (``/api/v1``, described at ``/api/openapi.json``) and the staff
page that issues and revokes its tokens.

Every API request carries ``Authorization: Bearer <token>``; a token reads only the meeting
it was issued for (another meeting's objects are a 404, as if they did not exist). A
missing, unknown or revoked token is a 401 with a JSON message; browser log-ins are never
used. Answers carry the ETags of the sheets: ``r<room>.<sheet version>`` for a room,
``m<meeting>.<publication step>`` for the rest; If-None-Match with it gives a bodiless 304.
Each token is rate-limited (``API_RATE_LIMIT``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from ..extensions import db, limiter
from ..handlers import guarded, save
from ..models import Activity, ApiToken, Meeting, Room
from ..permissions import MANAGE_MEETING
from ..publication import operations as publication
from . import operations as ops
from .forms import IssueTokenForm, RevokeTokenForm
from .spec import spec

bp = Blueprint("api", __name__, url_prefix="/api")
tokens_bp = Blueprint("api_tokens", __name__, url_prefix="/staff")

UNAUTHORIZED = (
    "This API needs a token: send it as 'Authorization: Bearer <token>'. Tokens are issued "
    "by the meeting's staff (Meeting → API tokens); a revoked token stops working at once."
)
NOT_FOUND = "There is no such {what} in the meeting this token reads."
RATE_LIMITED = "Too many requests with this token just now. Wait a minute, then retry."


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", "120 per minute")


def _rate_key() -> str:
    """Per token (its hash, so no token sits in the limiter's storage), else per address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "api-token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "api-address:" + (get_remote_address() or "")


limiter.limit(_rate_limit, key_func=_rate_key, error_message=RATE_LIMITED)(bp)


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="disclosures"'
    return response


@bp.errorhandler(HTTPException)
def _json_error(error: HTTPException):
    description = error.description
    if error.code == 429:
        description = RATE_LIMITED
    return _error(error.code or 500, description or (error.name or "Error"))


def token_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(*args, **kwargs):
        token = ops.token_from_header(request.headers.get("Authorization"))
        if token is None:
            return _error(401, UNAUTHORIZED)
        g.api_token = token
        return view(*args, **kwargs)

    return wrapped


def _in_token_meeting(model: type, ident: int, what: str):
    """The object of the token's meeting, else a JSON 404 (another meeting's too)."""
    obj = db.session.get(model, ident)
    meeting_id = None if obj is None else obj.id if model is Meeting else obj.meeting_id
    if obj is None or meeting_id != g.api_token.meeting_id:
        abort(404, description=NOT_FOUND.format(what=what))
    return obj


def _answer(etag: str, last_modified: datetime, build: Callable[[], dict]) -> Response:
    if request.if_none_match and request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = jsonify(build())
    response.set_etag(etag)
    response.last_modified = last_modified.replace(microsecond=0)
    # Revalidate every time: a revoked token must stop reading at once.
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Authorization")
    return response


def _meeting_answer(meeting: Meeting, build: Callable[[], dict]) -> Response:
    return _answer(f"m{meeting.id}.{meeting.publication_seq}", ops.step_time(meeting), build)


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of /api/v1 (no token needed)."""
    response = jsonify(spec())
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/v1/meetings")
@token_required
def meetings():
    meeting = db.session.get(Meeting, g.api_token.meeting_id)
    return _meeting_answer(meeting, lambda: {"meetings": [ops.meeting_summary(meeting)]})


@bp.route("/v1/meetings/<int:meeting_id>")
@token_required
def meeting(meeting_id: int):
    found = _in_token_meeting(Meeting, meeting_id, "meeting")
    return _meeting_answer(found, lambda: ops.meeting_document(found))


@bp.route("/v1/meetings/<int:meeting_id>/activities")
@token_required
def activities(meeting_id: int):
    found = _in_token_meeting(Meeting, meeting_id, "meeting")
    return _meeting_answer(found, lambda: ops.activities_document(found))


@bp.route("/v1/activities/<int:activity_id>")
@token_required
def activity(activity_id: int):
    found = _in_token_meeting(Activity, activity_id, "activity")
    return _meeting_answer(found.meeting, lambda: ops.activity_document(found))


@bp.route("/v1/rooms/<int:room_id>")
@token_required
def room(room_id: int):
    found = _in_token_meeting(Room, room_id, "room")
    sheet = publication.latest_sheet(found)
    if sheet is None:  # a room from before the published record: publish it now (as /r/ does)
        publication.refresh(rooms=[found.id])
        db.session.commit()
        sheet = publication.latest_sheet(found)
    return _answer(f"r{found.id}.{sheet.number}", sheet.valid_from,
                   lambda: ops.room_document(found, sheet))


# --------------------------------------------------------------------------- staff page


def _tokens_page(meeting: Meeting, form: IssueTokenForm, *, issued: tuple | None = None,
                 status: int = 200):
    return render_template("api/tokens.html", meeting=meeting, form=form,
                           tokens=ops.tokens_of(meeting), issued=issued,
                           revoke_form=RevokeTokenForm()), status


@tokens_bp.route("/meetings/<int:meeting_id>/api-tokens", methods=["GET", "POST"])
@guarded(MANAGE_MEETING, Meeting)
def tokens(meeting: Meeting):
    """GET: the meeting's tokens; POST: issue one, shown once on the page that answers."""
    form = IssueTokenForm()
    if not form.is_submitted():
        return _tokens_page(meeting, form)
    if not form.validate_on_submit():
        return _tokens_page(meeting, form, status=400)

    def refused(error):
        form.name.errors = [str(error)]
        return _tokens_page(meeting, form, status=error.status)

    token, raw = save(lambda: ops.issue_token(current_user, meeting, form.name.data),
                      refused=refused)
    return _tokens_page(meeting, IssueTokenForm(formdata=None), issued=(token, raw))


@tokens_bp.route("/api-tokens/<int:api_token_id>/revoke", methods=["POST"])
@guarded(MANAGE_MEETING, ApiToken)
def token_revoke(api_token: ApiToken):
    form = RevokeTokenForm()
    if not form.validate_on_submit():
        abort(400, description="The form could not be accepted. Reload the API tokens page "
              "and try again.")
    meeting = api_token.meeting
    save(lambda: ops.revoke_token(current_user, api_token),
         refused=lambda error: _tokens_page(meeting, IssueTokenForm(formdata=None),
                                            status=error.status))
    flash(f"The token “{api_token.name}” is revoked: it stopped working at once.", "success")
    return redirect(url_for("api_tokens.tokens", meeting_id=meeting.id))
