"""Staff room pages: QR codes that decode to the room URL, signs, and re-issuing a code."""

from __future__ import annotations

import io
import shutil
import subprocess

import pypdf
import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from disclosures.extensions import db
from disclosures.models import AuditEvent, Room

from . import factories

BASE = "https://cme.example.org"


@pytest.fixture()
def room(app):
    meeting = factories.meeting(name="Spine Forum 2030")
    room = factories.room(meeting, "Skyline Hall")
    factories.activity(meeting, room, title="Endoscopic discectomy")
    db.session.commit()
    return room


def decode(image: Image.Image) -> list[str]:
    # Only QR codes: a phone's camera app looks for those, and reading every format lets a
    # run of modules pass for a short linear barcode now and then (a CI run read "8832").
    return [
        result.text
        for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def staff_paths(room):
    return [
        f"/staff/meetings/{room.meeting_id}/rooms",
        f"/staff/rooms/{room.id}/qr.svg",
        f"/staff/rooms/{room.id}/qr.png",
        f"/staff/rooms/{room.id}/sign.pdf",
        f"/staff/rooms/{room.id}/reissue-token",  # the confirmation page
    ]


def test_rooms_page_lists_rooms_with_inline_qr(login_as, room):
    client = login_as(factories.admin())
    response = client.get(f"/staff/meetings/{room.meeting_id}/rooms")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Skyline Hall" in page
    assert f"{BASE}/r/{room.public_token}" in page
    assert "<svg" in page and "1 activity" in page


def test_rooms_page_unknown_meeting_is_404(login_as, room):
    client = login_as(factories.admin())
    assert client.get("/staff/meetings/999999/rooms").status_code == 404
    assert client.get("/staff/rooms/999999/qr.png").status_code == 404


def test_room_qr_png_decodes_to_room_url(login_as, room):
    client = login_as(factories.admin())
    response = client.get(f"/staff/rooms/{room.id}/qr.png")
    assert response.mimetype == "image/png"
    assert decode(Image.open(io.BytesIO(response.data))) == [f"{BASE}/r/{room.public_token}"]


def test_room_qr_svg_is_a_full_qr_code_for_room_url(login_as, room):
    import segno

    client = login_as(factories.admin())
    response = client.get(f"/staff/rooms/{room.id}/qr.svg")
    assert response.mimetype == "image/svg+xml"
    assert response.data.lstrip().startswith(b"<?xml") and b"<svg" in response.data
    # The SVG draws the same symbol as the PNG: a full (not Micro) QR code, level H.
    code = segno.make_qr(f"{BASE}/r/{room.public_token}", error="h")
    assert not code.is_micro and code.error == "H"


@pytest.mark.parametrize("size, width", [("letter", 612), ("a4", 595)])
def test_room_sign_pdf_shows_meeting_room_url_and_scannable_code(login_as, room, size, width):
    client = login_as(factories.admin())
    response = client.get(f"/staff/rooms/{room.id}/sign.pdf?size={size}")
    assert response.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    page = reader.pages[0]
    assert round(float(page.mediabox.width)) == width
    text = " ".join(page.extract_text().split())
    assert "Spine Forum 2030" in text and "Skyline Hall" in text
    assert f"{BASE}/r/{room.public_token}" in text
    assert "Scan with your phone camera" in text


@pytest.mark.parametrize("size", ["letter", "a4"])
def test_room_sign_qr_is_large_enough_for_two_metres(room, size):
    from disclosures.documents import qr, sign

    side = sign.qr_side(size)
    modules = len(qr.matrix(f"{BASE}/r/{room.public_token}")) + 8  # with the quiet zone
    assert side / sign.cm >= 16.5  # ~17 cm: the 10:1 rule of thumb gives about 2 m
    assert side / modules / sign.mm >= 2.9  # ~3 mm modules (version 9-H for a 69-character URL)


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm) not installed")
def test_room_sign_printed_code_decodes_to_room_url(login_as, room, tmp_path):
    client = login_as(factories.admin())
    (tmp_path / "sign.pdf").write_bytes(client.get(f"/staff/rooms/{room.id}/sign.pdf").data)
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(tmp_path / "sign.pdf"), str(tmp_path / "page")],
                   check=True)
    image = Image.open(next(tmp_path.glob("page*.png")))
    assert decode(image) == [f"{BASE}/r/{room.public_token}"]


def test_room_sign_bad_size_is_400(login_as, room):
    client = login_as(factories.admin())
    assert client.get(f"/staff/rooms/{room.id}/sign.pdf?size=poster").status_code == 400


def test_reissue_token_kills_old_url_and_is_audited(login_as, room):
    staff = factories.admin()
    client = login_as(staff)
    old = room.public_token
    assert client.get(f"/r/{old}").status_code == 200
    response = client.post(f"/staff/rooms/{room.id}/reissue-token", follow_redirects=True)
    assert response.status_code == 200
    new = db.session.get(Room, room.id).public_token
    assert "has a new QR code" in response.get_data(as_text=True)
    assert f"/r/{new}" in response.get_data(as_text=True)
    assert new != old
    assert client.get(f"/r/{old}").status_code == 404
    assert client.get(f"/r/{old}.pdf").status_code == 404
    assert client.get(f"/r/{new}").status_code == 200
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "room.token_reissued")).one()
    assert event.actor_id == staff.id and event.object_id == room.id
    assert old not in str(event.changes) and new not in str(event.changes)




def test_replacing_a_qr_code_asks_first_and_says_what_happens(login_as, room):
    client = login_as(factories.admin())
    token = room.public_token
    rooms_page = client.get(f"/staff/meetings/{room.meeting_id}/rooms").get_data(as_text=True)
    confirm_url = f"/staff/rooms/{room.id}/reissue-token"
    # The rooms page links to the confirmation; it has no form that replaces at once.
    assert f'href="{confirm_url}"' in rooms_page
    assert f'action="{confirm_url}"' not in rooms_page
    response = client.get(confirm_url)
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    assert "Skyline Hall" in page and "Spine Forum 2030" in page
    assert "The printed sign stops working" in page and "print the new sign" in page
    assert f'<form method="post" action="{confirm_url}"' in page
    assert db.session.get(Room, room.id).public_token == token  # asking changed nothing
    client.post(confirm_url)
    assert db.session.get(Room, room.id).public_token != token


def test_replaced_room_code_names_the_meeting_and_links_to_its_disclosures(login_as, client, room):
    old = room.public_token
    slug = room.meeting.slug
    login_as(factories.admin()).post(f"/staff/rooms/{room.id}/reissue-token")
    for path in (f"/r/{old}", f"/r/{old}.pdf"):
        response = client.get(path)  # an attendee, not logged in, scanning the old sign
        assert response.status_code == 404, path
        page = " ".join(response.get_data(as_text=True).split())
        assert "Spine Forum 2030" in page and "Skyline Hall" in page, path
        assert "replaced" in page
        assert f'href="/m/{slug}/disclosures"' in page, path
        assert "/login" not in page, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert client.get(f"/m/{slug}/disclosures").status_code == 200


def test_replaced_twice_both_old_codes_lead_to_the_meeting(login_as, client, room):
    staff = login_as(factories.admin())
    first = room.public_token
    staff.post(f"/staff/rooms/{room.id}/reissue-token")
    second = db.session.get(Room, room.id).public_token
    staff.post(f"/staff/rooms/{room.id}/reissue-token")
    for token in (first, second):
        response = client.get(f"/r/{token}")
        assert response.status_code == 404 and b"Spine Forum 2030" in response.data


def test_unknown_room_code_is_a_generic_404_without_a_login_button(client, room):
    response = client.get("/r/" + "x" * 43)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "room code is not valid" in page
    assert "Spine Forum 2030" not in page and "/m/" not in page
    assert "/login" not in page
