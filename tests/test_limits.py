"""Rate limits on logins and token endpoints; request size limit."""

import io

import pytest

from disclosures.extensions import db, limiter

from . import factories


@pytest.fixture()
def limited_app(app, make_app):
    strict = make_app(LOGIN_RATE_LIMIT="3 per minute")
    limiter.reset()
    yield strict
    limiter.reset()


@pytest.mark.parametrize("path", ["/login", "/password/reset", "/invitation/not-a-real-token"])
def test_repeated_attempts_are_limited(limited_app, path):
    client = limited_app.test_client()
    data = {"email": "someone@example.org", "password": "wrong password", "confirm": "wrong password"}
    for _ in range(3):
        assert client.post(path, data=data).status_code < 429
    response = client.post(path, data=data)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_correct_password_is_also_refused_once_limited(limited_app):
    person = factories.user()
    db.session.commit()
    client = limited_app.test_client()
    for _ in range(3):
        client.post("/login", data={"email": person.email, "password": "wrong"})
    response = client.post("/login", data={"email": person.email, "password": factories.PASSWORD})
    assert response.status_code == 429


def test_the_429_page_says_what_to_do(limited_app):
    client = limited_app.test_client()
    for _ in range(4):
        response = client.post("/login", data={"email": "someone@example.org", "password": "wrong"})
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "too many attempts from your network" in page
    assert "ask for a reset link" in page
    assert "You can try again in about 1 minute." in page
    assert int(response.headers["Retry-After"]) <= 60


# ------------------------------------------------------------ behind a reverse proxy


@pytest.fixture()
def proxied_app(app, make_app):
    """Behind one proxy (nginx as in the README), three log-in POSTs a minute per client."""
    built = make_app(LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXIES=1)
    limiter.reset()
    yield built
    limiter.reset()


def _post_login(client, address, email="someone@example.org", password="wrong password"):  # noqa: S107
    return client.post("/login", data={"email": email, "password": password},
                       headers={"X-Forwarded-For": address})


def test_clients_behind_the_proxy_have_separate_address_budgets(proxied_app):
    """Behind nginx every request comes from 127.0.0.1: without TRUSTED_PROXIES one busy
    client used up everyone's budget."""
    alice, bob = proxied_app.test_client(), proxied_app.test_client()
    for n in range(3):
        assert _post_login(alice, "203.0.113.7", f"a{n}@example.org").status_code == 401
    assert _post_login(alice, "203.0.113.7", "a9@example.org").status_code == 429
    assert _post_login(bob, "198.51.100.9", "b@example.org").status_code == 401
    person = factories.user()
    db.session.commit()
    assert _post_login(bob, "198.51.100.9", person.email, factories.PASSWORD).status_code == 302


def test_only_the_address_the_trusted_proxy_saw_counts(proxied_app):
    # nginx appends the address it saw; what the client wrote before it is not believed.
    client = proxied_app.test_client()
    for n in range(3):
        assert _post_login(client, f"10.9.9.{n}, 203.0.113.7", f"c{n}@example.org").status_code == 401
    assert _post_login(client, "10.9.9.99, 203.0.113.7", "c9@example.org").status_code == 429


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing(limited_app):
    client = limited_app.test_client()
    for n in range(3):
        assert _post_login(client, f"203.0.113.{n}", f"d{n}@example.org").status_code < 429
    assert _post_login(client, "203.0.113.99", "d9@example.org").status_code == 429


# ------------------------------------------------- per account, with device cookies


@pytest.fixture()
def account_limited_app(app, make_app):
    """Three FAILED log-ins per account a minute; the address budget is not in the way."""
    built = make_app(LOGIN_ACCOUNT_RATE_LIMIT="3 per minute", TRUSTED_PROXIES=1)
    limiter.reset()
    yield built
    limiter.reset()


def _owner_logged_in_before(app, person):
    """The owner's browser: logged in once (so it holds the device cookie), then out."""
    browser = app.test_client()
    assert _post_login(browser, "198.51.100.1", person.email, factories.PASSWORD).status_code == 302
    assert browser.get_cookie("login_device", path="/login") is not None
    browser.post("/logout", headers={"X-Forwarded-For": "198.51.100.1"})
    return browser


def test_an_attacker_exhausting_an_account_does_not_lock_out_its_owners_browser(account_limited_app):
    person = factories.user()
    db.session.commit()
    owner = _owner_logged_in_before(account_limited_app, person)

    attacker = account_limited_app.test_client()
    for _ in range(3):
        assert _post_login(attacker, "203.0.113.66", person.email).status_code == 401
    refused = _post_login(attacker, "203.0.113.66", person.email, factories.PASSWORD)
    assert refused.status_code == 429  # even the right password, from there
    page = refused.get_data(as_text=True)
    assert "too many failed log-ins to this account" in page
    assert "Log in from a browser you have used for this account before" in page
    stranger = account_limited_app.test_client()
    assert _post_login(stranger, "192.0.2.5", person.email, factories.PASSWORD).status_code == 429

    response = _post_login(owner, "203.0.113.66", person.email, factories.PASSWORD)
    assert response.status_code == 302  # from anywhere, even the attacker's network
    assert owner.get("/faculty/").status_code == 200


def test_the_account_budget_is_per_account(account_limited_app):
    target, bystander = factories.user(), factories.user()
    db.session.commit()
    attacker = account_limited_app.test_client()
    for _ in range(3):
        _post_login(attacker, "203.0.113.66", target.email)
    assert _post_login(attacker, "203.0.113.66", target.email).status_code == 429
    assert _post_login(attacker, "203.0.113.66", bystander.email).status_code == 401
    fresh = account_limited_app.test_client()
    assert _post_login(fresh, "192.0.2.5", bystander.email, factories.PASSWORD).status_code == 302
    # The address is normalised like the login: case and spaces do not make a new budget.
    shouted = f"  {target.email.upper()} "
    assert _post_login(attacker, "203.0.113.66", shouted).status_code == 429


def test_only_failed_logins_count_against_the_account(account_limited_app):
    person = factories.user()
    db.session.commit()
    for n in range(6):  # six new browsers, each logging in right
        browser = account_limited_app.test_client()
        assert _post_login(browser, f"192.0.2.{n}", person.email, factories.PASSWORD).status_code == 302


def test_an_unknown_address_is_limited_the_same_way(account_limited_app):
    # The lock-out must not tell an attacker which addresses have an account.
    person = factories.user()
    db.session.commit()
    for email in (person.email, "nobody@example.org"):
        client = account_limited_app.test_client()
        answers = [_post_login(client, "203.0.113.66", email).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429], email


def test_a_device_cookie_exempts_only_for_its_own_account(account_limited_app):
    mine, theirs = factories.user(), factories.user()
    db.session.commit()
    browser = _owner_logged_in_before(account_limited_app, mine)
    attacker = account_limited_app.test_client()
    for _ in range(3):
        _post_login(attacker, "203.0.113.66", theirs.email)
    assert _post_login(browser, "198.51.100.1", theirs.email, factories.PASSWORD).status_code == 429


def test_a_forged_or_copied_device_cookie_does_not_exempt(account_limited_app):
    person = factories.user()
    db.session.commit()
    owner = _owner_logged_in_before(account_limited_app, person)
    genuine = owner.get_cookie("login_device", path="/login").value
    attacker = account_limited_app.test_client()
    for _ in range(3):
        _post_login(attacker, "203.0.113.66", person.email)
    attacker.set_cookie("login_device", genuine[:-2] + ("AA" if genuine[-2:] != "AA" else "BB"),
                        path="/login")
    assert _post_login(attacker, "203.0.113.66", person.email, factories.PASSWORD).status_code == 429


def test_a_trusted_browser_has_its_own_budget_not_an_unlimited_one(account_limited_app):
    person = factories.user()
    db.session.commit()
    owner = _owner_logged_in_before(account_limited_app, person)
    for _ in range(3):
        assert _post_login(owner, "198.51.100.1", person.email).status_code == 401
    assert _post_login(owner, "198.51.100.1", person.email, factories.PASSWORD).status_code == 429
    # ... and using it up does not lock out the owner's other browsers.
    laptop = _owner_logged_in_before(account_limited_app, person)
    assert _post_login(laptop, "198.51.100.2", person.email, factories.PASSWORD).status_code == 302


def test_a_device_cookie_does_not_lift_the_address_limit(proxied_app):
    person = factories.user()
    db.session.commit()
    owner = _owner_logged_in_before(proxied_app, person)  # one POST from 198.51.100.1
    for _ in range(2):
        assert _post_login(owner, "198.51.100.1", person.email).status_code == 401
    assert _post_login(owner, "198.51.100.1", person.email, factories.PASSWORD).status_code == 429


# -------------------------------------------------------------- password reset requests


@pytest.fixture()
def reset_limited_app(app, make_app):
    built = make_app(RESET_ADDRESS_RATE_LIMIT="2 per hour", TRUSTED_PROXIES=1)
    built.extensions["mail_outbox"] = []
    limiter.reset()
    yield built
    limiter.reset()


def test_reset_requests_are_limited_per_address_asked_for(reset_limited_app):
    person = factories.user()
    db.session.commit()
    outbox = reset_limited_app.extensions["mail_outbox"]
    for email in (person.email, "nobody@example.org"):
        answers = []
        for n in range(3):  # from three different clients
            client = reset_limited_app.test_client()
            answers.append(client.post("/password/reset", data={"email": email},
                                       headers={"X-Forwarded-For": f"192.0.2.{n}"}))
        assert [a.status_code for a in answers] == [302, 302, 429], email
        assert "Look in your inbox" in answers[-1].get_data(as_text=True)
    assert len(outbox) == 2  # nobody's inbox is flooded
    other = factories.user()
    db.session.commit()
    response = reset_limited_app.test_client().post("/password/reset", data={"email": other.email})
    assert response.status_code == 302


def test_oversized_request_gets_a_clear_413(make_app, app):
    small = make_app(MAX_CONTENT_LENGTH=1024)
    response = small.test_client().post("/login", data={"email": "x" * 5000, "password": "y"})
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)


def test_programme_upload_may_exceed_the_form_limit_but_not_its_own(make_app, app):
    """The import allows IMPORT_MAX_BYTES even though CSRF reads the body before the view."""
    import io


    strict = make_app(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=4096, IMPORT_MAX_BYTES=200_000)
    meeting = factories.meeting()
    staff = factories.admin()
    db.session.commit()
    client = strict.test_client()

    def token(path):
        page = client.get(path).get_data(as_text=True)
        return page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]

    client.post("/login", data={"csrf_token": token("/login"), "email": staff.email,
                                "password": factories.PASSWORD})
    path = f"/staff/meetings/{meeting.id}/import"
    header = b"activity code,title,day,start,end,room,topics,credit hours,faculty name,email,role\n"

    def upload(size):
        body = header + b"\n" * size
        return client.post(path, data={"csrf_token": token(path), "file": (io.BytesIO(body), "p.csv")},
                           content_type="multipart/form-data")

    assert upload(50_000).status_code != 413  # over MAX_CONTENT_LENGTH, within the import limit
    assert upload(400_000).status_code == 413
    assert client.post("/login", data={"email": "x" * 10_000}).status_code == 413  # others keep theirs


class _BodyNobodyMayRead(io.RawIOBase):
    """A request body of ``size`` bytes that fails the test if the server reads any of it."""

    def __init__(self, size: int):
        self.size, self.position = size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        raise AssertionError("the server read a body it should have refused unread")


@pytest.mark.parametrize("who", ["anonymous", "faculty"])
def test_programme_upload_limit_is_only_raised_for_staff(make_app, app, who):
    """Only someone who may import gets IMPORT_MAX_BYTES; anyone else sending a body between
    the two limits gets a 413 before the body is read, and small bodies still get the login
    redirect or the 403."""

    strict = make_app(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=4096, IMPORT_MAX_BYTES=200_000)
    meeting = factories.meeting()
    faculty = factories.user()
    db.session.commit()
    client = strict.test_client()

    def token(path):
        page = client.get(path).get_data(as_text=True)
        return page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]

    csrf = token("/login")
    if who == "faculty":
        client.post("/login", data={"csrf_token": csrf, "email": faculty.email,
                                    "password": factories.PASSWORD})
    path = f"/staff/meetings/{meeting.id}/import"
    response = client.post(path, input_stream=_BodyNobodyMayRead(50_000),
                           content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)

    small = client.post(path, data={"csrf_token": csrf, "file": (io.BytesIO(b"x"), "p.csv")},
                        content_type="multipart/form-data")
    if who == "anonymous":
        assert small.status_code == 302 and "/login" in small.headers["Location"]
    else:
        assert small.status_code == 403
