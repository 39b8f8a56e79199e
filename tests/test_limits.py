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


def test_oversized_request_gets_a_clear_413(make_app, app):
    small = make_app(MAX_CONTENT_LENGTH=1024)
    response = small.test_client().post("/login", data={"email": "x" * 5000, "password": "y"})
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)


def test_programme_upload_may_exceed_the_form_limit_but_not_its_own(make_app, app):
    """The import allows IMPORT_MAX_BYTES even though CSRF reads the body before the view."""
    import io

    from disclosures.enums import Role

    strict = make_app(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=4096, IMPORT_MAX_BYTES=200_000)
    meeting = factories.meeting()
    staff = factories.user(Role.STAFF)
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
    from disclosures.enums import Role

    strict = make_app(WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=4096, IMPORT_MAX_BYTES=200_000)
    meeting = factories.meeting()
    faculty = factories.user(Role.FACULTY)
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
