"""Staff pages: rooms, their QR codes, printable signs, and re-issuing a room's code.

Routes register on the staff blueprint (``staff.rooms``, ``staff.room_qr_svg``,
``staff.room_qr_png``, ``staff.room_sign``, ``staff.room_reissue_token``).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SubmitField

from ..audit import record
from ..documents import qr, sign
from ..enums import Role
from ..extensions import db
from ..links import external_url
from ..models import Activity, Meeting, Room, User
from ..permissions import role_required
from ..public.forms import PageSizeForm
from .views import bp


class ReissueTokenForm(FlaskForm):
    submit = SubmitField("Replace the QR code")


def public_url(room: Room) -> str:
    """What the room's QR code encodes: PUBLIC_BASE_URL + /r/<token>."""
    return external_url("public.room_sheet", token=room.public_token)


def reissue_room_token(actor: User, room: Room) -> str:
    """Give the room a new public token; the old URL and printed QR stop working at once.

    Side effects: changes ``room.public_token`` and ``room.token_issued_at``; keeps the old
    token's hash (``RoomTokenRetired``: its page then names the meeting); writes the
    audit event ``room.token_reissued`` (the tokens themselves are not logged); flushes.
    Never commits. Returns the new token.
    """
    issued_before = room.token_issued_at
    room.reissue_token()
    record(actor, "room.token_reissued", room, {
        "room": room.name,
        "token_issued_at": {"before": issued_before, "after": room.token_issued_at},
    })
    db.session.flush()
    return room.public_token


def _room_or_404(room_id: int) -> Room:
    room = db.session.get(Room, room_id)
    if room is None:
        abort(404, description="There is no such room. It may have been deleted.")
    return room


def _file_slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "room"


@bp.route("/meetings/<int:meeting_id>/rooms")
@role_required(Role.STAFF)
def rooms(meeting_id: int):
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        abort(404, description="There is no such meeting.")
    counts = dict(db.session.execute(
        sa.select(Activity.room_id, sa.func.count(Activity.id))
        .where(Activity.meeting_id == meeting.id).group_by(Activity.room_id)
    ).all())
    rows = [(room, public_url(room), counts.get(room.id, 0)) for room in meeting.rooms]
    return render_template("staff/rooms.html", meeting=meeting, rows=rows, qr=qr)


@bp.route("/rooms/<int:room_id>/qr.svg")
@role_required(Role.STAFF)
def room_qr_svg(room_id: int):
    room = _room_or_404(room_id)
    response = Response(qr.svg(public_url(room), scale=10), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="qr-{_file_slug(room.name)}.svg"'
    return response


@bp.route("/rooms/<int:room_id>/qr.png")
@role_required(Role.STAFF)
def room_qr_png(room_id: int):
    room = _room_or_404(room_id)
    response = Response(qr.png(public_url(room), scale=12), mimetype="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="qr-{_file_slug(room.name)}.png"'
    return response


@bp.route("/rooms/<int:room_id>/sign.pdf")
@role_required(Role.STAFF)
def room_sign(room_id: int):
    """A printable sign for the room door (?size=letter|a4)."""
    form = PageSizeForm(request.args)
    if not form.validate():
        abort(400, description="Choose the paper size with ?size=letter or ?size=a4.")
    room = _room_or_404(room_id)
    content = sign.sign_pdf(room.meeting.name, room.name, public_url(room), form.page_size())
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="sign-{_file_slug(room.name)}-{form.page_size()}.pdf"'
    )
    return response


@bp.route("/rooms/<int:room_id>/reissue-token", methods=["GET", "POST"])
@role_required(Role.STAFF)
def room_reissue_token(room_id: int):
    """GET: what replacing the code does, and the form that does it; POST: replace it."""
    room = _room_or_404(room_id)
    form = ReissueTokenForm()
    if not form.is_submitted():
        return render_template("staff/room_reissue.html", room=room, meeting=room.meeting,
                               url=public_url(room), form=form)
    if not form.validate_on_submit():
        abort(400, description="The form could not be accepted. Reload the rooms page and try again.")
    reissue_room_token(current_user, room)
    db.session.commit()
    flash(f"{room.name} has a new QR code. The old sign no longer shows the room's "
          "disclosures: print the new sign and post it in its place.", "success")
    return redirect(url_for("staff.rooms", meeting_id=room.meeting_id) + f"#room-{room.id}")
