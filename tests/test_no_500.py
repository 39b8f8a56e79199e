"""No input makes the service answer 500, and a refused form saves nothing.

A walker opens every page each kind of user may open, finds every form on it (POST forms
and GET filter forms alike), and sends it back with one field at a time replaced by
malformed input: missing, empty, wrong type, huge numbers, negative ids, invalid dates,
unknown choices, NUL and other control characters, 10,000 characters. Every answer
must be below 500; a 4xx must carry a message and leave every row as it was. Targeted
tests add what a walker cannot: duplicate rows, ids beyond any integer column.
"""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest

from disclosures.extensions import db

from .routes import build_world, checked_rules, database_digest, rule_arguments, url_for_rule
from .test_authorisation import EXPECTED

MALFORMED = [
    None,  # the field is missing from the request
    "",
    "-1",
    "99999999999999999999999999",
    "1e400",
    "NaN",
    "2026-02-30",
    "not-a-choice",
    "a\x00b",
    "x" * 10_000,
]

# Forms the walker leaves alone: logging out ends the walk's session.
SKIP_ACTIONS = ("/logout",)


class _Forms(HTMLParser):
    """Every <form> in a page: method, action and each named control's default value."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "",
                          "fields": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "textarea", "button") and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a or a["name"] not in self._form["fields"]:
                    self._form["fields"][a["name"]] = a.get("value") or "y"
            elif kind == "file":
                self._form["fields"][a["name"]] = ""
            elif tag == "button" or kind == "submit":
                self._form["fields"].setdefault(a["name"], a.get("value") or "1")
            else:
                self._form["fields"][a["name"]] = a.get("value") or ""
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"][a["name"]] = ""
        elif tag == "option" and self._select and self._form["fields"].get(self._select) == "":
            self._form["fields"][self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _forms_on(page: str) -> list[dict]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def _allowed_pages(app, world, role):
    rules = {(e, m): rule for e, m, rule in checked_rules(app)}
    for (endpoint, method), cells in sorted(EXPECTED.items()):
        if method == "GET" and cells[role] == "200":
            yield endpoint, url_for_rule(rules[(endpoint, method)], world)


def _send(client, form, page_url, data):
    action = form["action"] or page_url
    if form["method"] == "post":
        return client.post(action, data=data)
    path = urlsplit(action).path
    return client.get(f"{path}?{urlencode(data)}")


def _has_message(response) -> bool:
    body = response.get_data(as_text=True)
    if response.mimetype == "application/json":
        return "error" in body
    return 'class="lead"' in body or "error" in body.lower() or "invalid" in body.lower()


@pytest.mark.slow
@pytest.mark.parametrize("role", ["faculty_a", "reviewer", "staff"])
def test_no_form_answers_500_to_malformed_input(app, login_as, role):
    world = build_world()
    db.session.commit()
    client = login_as(world.user(role))
    problems, sent = [], 0
    for endpoint, url in list(_allowed_pages(app, world, role)):
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for form in _forms_on(response.get_data(as_text=True)):
            if form["action"].endswith(SKIP_ACTIONS) or not form["fields"]:
                continue
            before = database_digest()
            for name in form["fields"]:
                if name == "csrf_token":
                    continue
                for value in MALFORMED:
                    data = dict(form["fields"])
                    if value is None:
                        data.pop(name)
                    else:
                        data[name] = value
                    answer = _send(client, form, url, data)
                    sent += 1
                    where = f"{endpoint} form {form['method'].upper()} {form['action'] or url} {name}={value!r:.30}"
                    if answer.status_code >= 500:
                        problems.append(f"{where}: {answer.status_code}")
                    elif 400 <= answer.status_code < 500:
                        if not _has_message(answer):
                            problems.append(f"{where}: {answer.status_code} without a message")
                        if database_digest() != before:
                            problems.append(f"{where}: {answer.status_code} but rows changed")
                    else:  # accepted: what it saved is the new starting point
                        before = database_digest()
    assert sent > 100, f"the walker found too few forms ({sent} requests)"
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_beyond_any_integer_column_are_404(app, login_as, big):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    checked = 0
    for endpoint, method, rule in checked_rules(app):
        arguments = rule_arguments(endpoint, world)
        for name, converter in rule._converters.items():
            if type(converter).__name__ == "UnicodeConverter":
                continue
            values = {a: arguments[a] for a in rule.arguments} | {name: big}
            url = rule.build(values, append_unknown=False)[1]
            response = client.open(url, method=method)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            checked += 1
    assert checked > 40


def test_unknown_query_values_on_public_and_staff_documents_are_400_not_500(app, login_as):
    world = build_world()
    db.session.commit()
    staff = login_as(world.staff)
    for url in (f"/r/{world.room.public_token}.pdf?size=tabloid", "/disclosures.pdf?size=%3Cb%3E",
                f"/staff/rooms/{world.room.id}/sign.pdf?size=x"):
        response = staff.get(url)
        assert response.status_code == 400 and "size" in response.get_data(as_text=True), url
    for url in ("/r/%00", "/r/" + "x" * 5000, "/m/%00/disclosures", "/invitation/%00",
                "/password/reset/" + "y" * 5000):
        assert app.test_client().get(url).status_code in (200, 400, 404), url


def test_nul_character_in_any_text_is_a_400_that_says_so(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    before = database_digest()
    response = client.post(f"/staff/meetings/{world.meeting.id}/rooms/new", data={"name": "Hall\x00C"})
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert client.get("/staff/audit?person=a%00b").status_code == 400
    assert database_digest() == before


def _disclosure(person, rows):
    data = {"has_relationships": "yes", "discusses_off_label": "no",
            "attestation_name": person.full_name, "attested_complete": "y", "submit": "1"}
    for i, (company, nature) in enumerate(rows):
        data.update({f"relationships-{i}-company": company, f"relationships-{i}-nature": nature,
                     f"relationships-{i}-started_on": (date.today() - timedelta(days=30)).isoformat(),
                     f"relationships-{i}-ongoing": "y"})
    return data


@pytest.mark.parametrize("rows", [
    [("Acme", "consultant"), ("Acme", "consultant")],        # the same row twice
    [("Acme", "consultant"), ("ACME, Inc.", "consultant")],  # the same company, spelt twice
    [("Acme", "bogus-nature")],
    [("", "consultant")],
    [("Acme", "")],
])
def test_disclosure_form_with_duplicate_or_broken_rows_is_never_500(app, login_as, rows):
    world = build_world()
    db.session.commit()
    client = login_as(world.faculty_b)
    before = database_digest()
    response = client.post("/faculty/disclosure/new", data=_disclosure(world.faculty_b, rows))
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert "error" in response.get_data(as_text=True).lower()
        assert database_digest() == before


def test_disclosure_form_with_row_indexes_far_apart_or_negative_is_never_500(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.faculty_b)
    data = _disclosure(world.faculty_b, [("Acme", "consultant")])
    data.update({"relationships-999999-company": "Beta", "relationships-999999-nature": "advisor",
                 "relationships--1-company": "Gamma", "relationships-x-company": "Delta"})
    response = client.post("/faculty/disclosure/new", data=data)
    assert response.status_code in (302, 400)


def test_staff_duplicates_get_a_message_not_a_500(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    before = database_digest()
    # A room name the meeting already has, an activity code it already has, a slug in use,
    # a person already assigned in that role.
    cases = [
        (f"/staff/meetings/{world.meeting.id}/rooms/new", {"name": world.room.name}),
        (f"/staff/rooms/{world.other_room.id}/edit", {"name": world.room.name}),
        (f"/staff/meetings/{world.meeting.id}/activities/new", {
            "code": world.activity.code, "title": "T", "room_id": "0",
            "starts_at": f"{world.meeting.starts_on} 09:00", "ends_at": f"{world.meeting.starts_on} 10:00",
            "topics": "", "credit_hours": "1", "commercial_supporters": ""}),
        ("/staff/meetings/new", {
            "name": "Again", "slug": world.meeting.slug, "starts_on": world.meeting.starts_on.isoformat(),
            "ends_on": world.meeting.ends_on.isoformat(), "timezone": "UTC"}),
        (f"/staff/activities/{world.activity.id}/assign", {"email": world.faculty_a.email, "role": "speaker"}),
        (f"/staff/companies/{world.new_company.id}/aliases", {"alias": world.company.name}),
        (f"/staff/companies/{world.new_company.id}/merge", {"target": world.new_company.name}),
        ("/staff/people/invite", {"email": world.faculty_a.email.upper(), "full_name": "Twin"}),
    ]
    for url, data in cases:
        response = client.post(url, data=data)
        assert 400 <= response.status_code < 500, f"{url}: {response.status_code}"
        assert database_digest() == before, f"{url} saved something while refusing"


def test_removing_an_assignment_twice_is_not_a_500(app, login_as):
    world = build_world()
    db.session.commit()
    client = login_as(world.staff)
    url = f"/staff/assignments/{world.assignment_b.id}/remove"
    assert client.post(url).status_code == 302
    before = database_digest()
    response = client.post(url, follow_redirects=True)
    assert response.status_code == 200 and "already" in response.get_data(as_text=True).lower()
    assert database_digest() == before
