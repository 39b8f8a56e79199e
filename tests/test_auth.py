"""Logging in and out, invitations, password resets, role checks."""

import logging
import re
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosures.auth import operations
from disclosures.auth.redirects import safe_next_path
from disclosures.extensions import db
from disclosures.models import AuditEvent, LoginSession, User, utcnow

from . import factories


def test_login_page_is_styled_and_has_a_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/static/css/app.css"' in html
    assert 'name="email"' in html and 'name="password"' in html


def test_login_then_logout(app, client):
    person = factories.user(full_name="Grace Hopper")
    db.session.commit()
    response = client.post("/login", data={"email": person.email, "password": factories.PASSWORD})
    assert response.status_code == 302
    assert "Grace Hopper" in client.get("/faculty/", follow_redirects=True).get_data(as_text=True)
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/faculty/").status_code == 302  # back to the login page


def test_login_email_is_case_insensitive(app, client):
    factories.user(email="ada@example.org")
    db.session.commit()
    response = client.post("/login", data={"email": "  ADA@Example.org ", "password": factories.PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("email, password", [("known", "wrong password"), ("nobody@example.org", "whatever")])
def test_wrong_password_and_unknown_email_get_the_same_clear_message(app, client, email, password):
    person = factories.user()
    db.session.commit()
    response = client.post(
        "/login", data={"email": person.email if email == "known" else email, "password": password}
    )
    assert response.status_code == 401
    assert "That email and password do not match an active account" in response.get_data(as_text=True)


def test_inactive_account_cannot_log_in(app, client):
    person = factories.user(is_active=False)
    db.session.commit()
    response = client.post("/login", data={"email": person.email, "password": factories.PASSWORD})
    assert response.status_code == 401


def test_login_redirect_only_to_same_site(app, client):
    person = factories.user()
    db.session.commit()
    response = client.post(
        "/login?next=//evil.example.com/x",
        data={"email": person.email, "password": factories.PASSWORD},
    )
    assert "evil.example.com" not in response.headers["Location"]


# ``next`` as it appears in a link someone was sent (the raw query string): each of these
# leads a browser to another site, or to a script, if it is put in Location as it is.
REDIRECT_BYPASSES = [
    "next=//evil.example",
    "next=///evil.example",
    "next=/%09/evil.example",  # a tab: browsers drop it, leaving //evil.example
    "next=/%0A/x",  # a newline: was a 500 after the login was committed
    "next=/%0D/evil.example",
    "next=/%0D%0A/evil.example",
    "next=%09//evil.example",  # leading C0 controls and spaces are stripped by browsers
    "next=%20//evil.example",
    "next=%01//evil.example",
    "next=/%01/evil.example",  # other control characters inside
    "next=/%7F/evil.example",
    "next=//evil.example%09",
    "next=/\\evil.example",  # a backslash is a slash to a browser
    "next=/%5Cevil.example",
    "next=%5C%5Cevil.example",
    "next=%5C/evil.example",
    "next=/%5C/evil.example",
    "next=%2F%2Fevil.example",  # encoded slashes
    "next=/%2F%2Fevil.example",
    "next=/%252F%252Fevil.example",  # encoded twice: decoded once here, once more elsewhere
    "next=/%255Cevil.example",
    "next=/%2509/evil.example",
    "next=/%EF%BC%8Fevil.example",  # full-width solidus: //evil.example once normalised
    "next=%EF%BC%8F%EF%BC%8Fevil.example",
    "next=/%EF%BC%BCevil.example",  # full-width reverse solidus
    "next=https://evil.example",
    "next=HTTPS://evil.example/x",
    "next=https:evil.example",
    "next=https:/evil.example",
    "next=https:%2F%2Fevil.example",
    "next=//user@evil.example",
    "next=evil.example",
    "next=javascript:alert(1)",
    "next=%6Aavascript:alert(1)",
    "next=%20javascript:alert(1)",
    "next=JaVaScRiPt:alert(1)",
    "next=data:text/html,%3Cscript%3Ealert(1)%3C/script%3E",
    "next=",
    "next=%20",
    "next=" + "/a" * 1500,  # longer than any path of ours
    "next=/%E2%80%8B/%2F/evil.example",
    "next=/x&next=//evil.example",  # repeated: the first is used, the second never
]


@pytest.mark.parametrize("query", REDIRECT_BYPASSES)
def test_login_never_redirects_off_site_and_never_fails(app, client, query):
    person = factories.user()
    db.session.commit()
    response = client.post(f"/login?{query}",
                           data={"email": person.email, "password": factories.PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    if query != "next=/x&next=//evil.example":
        assert location == "/"  # the home page
    assert "evil" not in location and ":" not in location
    assert client.get("/faculty/").status_code == 200  # and the login happened


@pytest.mark.parametrize(
    "target",
    [
        "/faculty/",
        "/review/?meeting=3&state=awaiting_review",
        "/staff/audit?actor=Ana%20Silva&from=2026-01-01&action=user.invited",
        "/staff/meetings/1/records?format=csv&x=%2F",
        "/r/AbC_d-1?size=a4",
        "/m/spine-2026/disclosures?q=caf%C3%A9",
        "/faculty/disclosure/12#relationships",
        "/x",
    ],
)
def test_login_keeps_a_path_on_this_site_with_its_query(app, client, target):
    person = factories.user()
    db.session.commit()
    response = client.post("/login", query_string={"next": target},
                           data={"email": person.email, "password": factories.PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_login_returns_to_the_page_that_asked_for_it(app, client):
    person = factories.admin()
    db.session.commit()
    asked = client.get("/staff/audit?action=user.invited")
    login_url = asked.headers["Location"]
    assert urlsplit(login_url).path == "/login"
    response = client.post(login_url, data={"email": person.email, "password": factories.PASSWORD})
    assert response.headers["Location"] == "/staff/audit?action=user.invited"


def _browser_target(location: str) -> str:
    """Where a browser following ``location`` from https://cme.example.org/login goes
    (WHATWG URL parsing of the parts that matter for the host)."""
    cleaned = location.strip("".join(chr(c) for c in range(0x21)))
    cleaned = re.sub("[\t\n\r]", "", cleaned).replace("\\", "/")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", cleaned):
        return cleaned.split(":", 1)[0].lower()
    if cleaned.startswith("//"):
        return cleaned[2:].split("/", 1)[0]
    return "cme.example.org"


@pytest.mark.slow  # property test: many generated examples
@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("/\\:.%@ \t\n\r\x00\x01\x7f\uff0f\uff3cjavscriptevil2F5C09")),
            max_size=24),
    st.lists(st.sampled_from(["/", "\\", "%2F", "%5C", "%09", "%0A", "%252F", "\t", " ", "\uff0f",
                              "evil.example", "https:", "javascript:", "@", ":", "?", "#"]),
             max_size=8).map("".join),
))
def test_next_is_either_refused_or_a_path_a_browser_keeps_on_this_site(target):
    path = safe_next_path(target)
    if path is None:
        return
    assert path.startswith("/")
    assert _browser_target(path) == "cme.example.org"
    assert not re.search("[\x00-\x1f\x7f]", path)  # nothing that can split a header


def test_host_header_never_reaches_the_reset_link(app, client, outbox):
    """The reset link is built from PUBLIC_BASE_URL: a forged Host (or a forwarded one) in
    the request must not send the victim to the attacker's site with a live token."""
    person = factories.user()
    db.session.commit()
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example:8443"},
                    {"Host": "cme.example.org", "X-Forwarded-Host": "evil.example"}):
        response = client.post("/password/reset", data={"email": person.email}, headers=headers)
        assert response.status_code == 302
        body = outbox[-1].get_content()
        assert "evil" not in body
        link = next(line for line in body.splitlines() if "/password/reset/" in line)
        assert link.startswith("https://cme.example.org/password/reset/")
    response = client.post("/password/reset", data={"email": person.email},
                           base_url="https://evil.example")
    assert "evil" not in outbox[-1].get_content()


def test_host_header_never_reaches_the_reset_link_behind_a_proxy(app, make_app):
    proxied = make_app(TRUSTED_PROXIES=1)
    outbox = proxied.extensions["mail_outbox"] = []
    person = factories.user()
    db.session.commit()
    response = proxied.test_client().post(
        "/password/reset", data={"email": person.email},
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    )
    assert response.status_code == 302
    body = outbox[-1].get_content()
    assert "evil" not in body and "https://cme.example.org/password/reset/" in body


def test_staff_invites_faculty_who_sets_password_once(app, login_as, outbox):
    staff = factories.admin()
    db.session.commit()
    client = login_as(staff)
    response = client.post(
        "/staff/people/invite",
        data={"email": "New.Speaker@Example.org", "full_name": "New Speaker", "degrees": "MD"},
    )
    assert response.status_code == 200
    invited = db.session.scalar(sa.select(User).where(User.email == "new.speaker@example.org"))
    assert invited is not None and invited.password_hash is None
    # The invitation mail carries the link; the page shows it to staff too.
    message = outbox[-1]
    assert message["To"] == "new.speaker@example.org"
    link = next(line for line in message.get_content().splitlines() if "/invitation/" in line)
    assert link in response.get_data(as_text=True)
    path = link.split("cme.example.org", 1)[-1] if "cme.example.org" in link else link.split("localhost", 1)[-1]

    speaker = app.test_client()
    assert speaker.get(path).status_code == 200
    response = speaker.post(path, data={"password": "a long enough pass", "confirm": "a long enough pass"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    assert "New Speaker" in speaker.get("/faculty/").get_data(as_text=True)
    # The link works once.
    assert app.test_client().get(path).status_code == 404
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.subject_user_id == invited.id)).all()
    assert actions == ["user.invited", "user.invitation_accepted"]


def test_expired_invitation_is_refused(app, client):
    person = factories.user(password=False)
    token = person.issue_invitation(timedelta(hours=1), now=utcnow() - timedelta(hours=2))
    db.session.commit()
    response = client.get(f"/invitation/{token}")
    assert response.status_code == 404
    assert "no longer valid" in response.get_data(as_text=True)
    response = client.post(f"/invitation/{token}", data={"password": "a long enough pass", "confirm": "a long enough pass"})
    assert response.status_code == 404
    assert db.session.get(User, person.id).password_hash is None


def test_invitation_password_rules_are_explained(app, client):
    person = factories.user(password=False)
    token = person.issue_invitation(timedelta(hours=1))
    db.session.commit()
    response = client.post(f"/invitation/{token}", data={"password": "short", "confirm": "short"})
    assert response.status_code == 400
    assert "Use at least 10 characters" in response.get_data(as_text=True)
    response = client.post(f"/invitation/{token}", data={"password": "long enough one", "confirm": "different one!"})
    assert "The two passwords differ." in response.get_data(as_text=True)
    assert db.session.get(User, person.id).password_hash is None


def test_inviting_an_existing_email_says_so(app, login_as):
    staff = factories.admin()
    existing = factories.user(email="taken@example.org")
    db.session.commit()
    response = login_as(staff).post(
        "/staff/people/invite", data={"email": "TAKEN@example.org", "full_name": "Someone"}
    )
    assert response.status_code == 400
    assert "An account for taken@example.org already exists." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 2
    assert existing.full_name != "Someone"


def test_password_reset_link_works_once(app, client, outbox):
    person = factories.user()
    db.session.commit()
    response = client.post("/password/reset", data={"email": person.email})
    assert response.status_code == 302
    link = next(line for line in outbox[-1].get_content().splitlines() if "/password/reset/" in line)
    path = "/password/reset/" + link.rsplit("/password/reset/", 1)[1]
    response = client.post(path, data={"password": "brand new password", "confirm": "brand new password"})
    assert response.status_code == 302
    assert operations.authenticate(person.email, "brand new password") is not None
    assert client.get(path).status_code == 404


def test_password_reset_for_unknown_email_says_the_same_and_sends_nothing(app, client, outbox):
    response = client.post("/password/reset", data={"email": "nobody@example.org"}, follow_redirects=True)
    assert "If an account exists for that address" in response.get_data(as_text=True)
    assert outbox == []


def test_changing_password_ends_other_sessions(app, login_as):
    person = factories.user()
    db.session.commit()
    laptop = login_as(person)
    phone = login_as(person)
    response = laptop.post(
        "/account/password",
        data={"current": factories.PASSWORD, "password": "a new long password", "confirm": "a new long password"},
    )
    assert response.status_code == 302
    assert laptop.get("/faculty/").status_code == 200
    assert phone.get("/faculty/").status_code == 302  # logged out


def test_a_cookie_copied_before_logout_no_longer_works_after_it(app, login_as):
    person = factories.user(full_name="Grace Hopper")
    db.session.commit()
    browser = login_as(person)
    copied = browser.get_cookie("session").value
    assert browser.get("/faculty/").status_code == 200
    assert browser.post("/logout").status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", copied)
    response = replay.get("/faculty/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "Grace Hopper" not in replay.get("/faculty/", follow_redirects=True).get_data(as_text=True)
    ended = db.session.scalars(sa.select(LoginSession).where(LoginSession.user_id == person.id)).one()
    assert ended.revoked_at is not None


def test_each_login_is_its_own_session_and_logging_out_one_keeps_the_other(app, login_as):
    person = factories.user()
    db.session.commit()
    laptop = login_as(person)
    phone = login_as(person)
    laptop.post("/logout")
    assert laptop.get("/faculty/").status_code == 302
    assert phone.get("/faculty/").status_code == 200


def test_an_expired_login_session_is_anonymous(app, login_as):
    person = factories.user()
    db.session.commit()
    browser = login_as(person)
    assert browser.get("/faculty/").status_code == 200
    db.session.execute(sa.update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert browser.get("/faculty/").status_code == 302


def test_a_login_session_lasts_the_configured_hours(app, login_as):
    person = factories.user()
    db.session.commit()
    before = utcnow()
    login_as(person)
    row = db.session.scalars(sa.select(LoginSession)).one()
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    assert before + lifetime <= row.expires_at <= utcnow() + lifetime
    assert row.token_hash and len(row.token_hash) == 64  # stored hashed


def test_deactivated_account_is_logged_out_at_once(app, login_as):
    person = factories.user()
    db.session.commit()
    browser = login_as(person)
    db.session.get(User, person.id).is_active = False
    db.session.commit()
    assert browser.get("/faculty/").status_code == 302


def test_account_page_lists_sessions_and_offers_log_out_everywhere(app, login_as):
    person = factories.user(full_name="Grace Hopper", email="grace@example.org")
    db.session.commit()
    login_as(person)
    laptop = login_as(person)
    assert 'href="/account"' in laptop.get("/faculty/").get_data(as_text=True)
    page = laptop.get("/account").get_data(as_text=True)
    assert "grace@example.org" in page
    assert "in 2 browsers or devices" in page
    assert 'action="/account/logout-everywhere"' in page and "Log out everywhere" in page
    assert 'href="/account/password"' in page


def test_log_out_everywhere_ends_every_session_of_that_person_only(app, login_as):
    person = factories.user()
    colleague = factories.user()
    db.session.commit()
    laptop = login_as(person)
    phone = login_as(person)
    phone_cookie = phone.get_cookie("session").value
    other = login_as(colleague)

    response = laptop.post("/account/logout-everywhere", follow_redirects=True)
    assert response.status_code == 200
    assert "You are logged out everywhere (2 sessions ended" in response.get_data(as_text=True)
    assert laptop.get("/faculty/").status_code == 302
    assert phone.get("/faculty/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", phone_cookie)
    assert replay.get("/faculty/").status_code == 302
    assert other.get("/faculty/").status_code == 200

    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.logged_out_everywhere")
    ).one()
    assert event.actor_id == person.id and event.subject_user_id == person.id
    assert event.changes == {"sessions": 2}
    assert login_as(person, laptop).get("/faculty/").status_code == 200  # may log in again


def test_password_reset_ends_every_session(app, client, login_as, outbox):
    person = factories.user()
    db.session.commit()
    phone = login_as(person)
    client.post("/password/reset", data={"email": person.email})
    link = next(line for line in outbox[-1].get_content().splitlines() if "/password/reset/" in line)
    response = client.post(urlsplit(link).path,
                           data={"password": "brand new password", "confirm": "brand new password"})
    assert response.status_code == 302
    assert phone.get("/faculty/").status_code == 302


class _RefusingServer:
    """An SMTP server that reads the message, then refuses to deliver it."""

    def __init__(self):
        self.contents: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.contents.append(envelope.content)
        return "554 5.7.1 Delivery refused"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(params=["refusing", "absent"])
def failing_smtp(app, request):
    refusing = _RefusingServer()
    controller = None
    port = _closed_port()
    if request.param == "refusing":
        controller = Controller(refusing, hostname="127.0.0.1", port=port)
        controller.start()
    saved = {k: app.config[k] for k in ("MAIL_SUPPRESS_SEND", "MAIL_SERVER", "MAIL_PORT")}
    app.config.update(MAIL_SUPPRESS_SEND=False, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    try:
        yield refusing
    finally:
        app.config.update(saved)
        if controller is not None:
            controller.stop()


def test_password_reset_with_a_failing_mail_server_answers_as_usual(app, client, failing_smtp, caplog):
    person = factories.user()
    db.session.commit()
    with caplog.at_level(logging.INFO):
        known = client.post("/password/reset", data={"email": person.email})
        known_page = client.get(known.headers["Location"])
        unknown = client.post("/password/reset", data={"email": "nobody@example.org"})
        unknown_page = client.get(unknown.headers["Location"])
    # The same answer whether or not the account exists: no 500, nothing that tells them apart.
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    assert known_page.get_data() == unknown_page.get_data()
    assert "If an account exists for that address" in known_page.get_data(as_text=True)
    # The operator is told, without the link or its token.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"user {person.id} could not be sent" in r.getMessage() for r in warnings)
    logged = caplog.text
    assert "/password/reset/" not in logged
    for content in failing_smtp.contents:  # the token the server saw never reaches the log
        token = re.search(rb"/password/reset/([A-Za-z0-9_.-]+)", content).group(1).decode()
        assert token not in logged


def test_security_headers_on_every_response(client):
    for path in ("/login", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
