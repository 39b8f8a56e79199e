"""Logging in and out, invitations, password resets, role checks."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from disclosures.auth import operations
from disclosures.enums import Role
from disclosures.extensions import db
from disclosures.models import AuditEvent, User, utcnow

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


def test_anonymous_is_sent_to_login(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "role, path, expected",
    [
        (Role.FACULTY, "/review/", 403),
        (Role.FACULTY, "/staff/", 403),
        (Role.REVIEWER, "/staff/", 403),
        (Role.REVIEWER, "/review/", 200),
        (Role.STAFF, "/review/", 200),
        (Role.STAFF, "/staff/", 200),
    ],
)
def test_role_required(app, login_as, role, path, expected):
    client = login_as(factories.user(role))
    db.session.commit()
    response = client.get(path)
    assert response.status_code == expected
    if expected == 403:
        assert "You do not have access to this page" in response.get_data(as_text=True)


def test_staff_invites_faculty_who_sets_password_once(app, login_as, outbox):
    staff = factories.user(Role.STAFF)
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
    staff = factories.user(Role.STAFF)
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
