"""The authorisation table: every route × method × kind of user → the status it must answer.

One world (tests/routes.py): faculty A shares an activity with a reviewer of the meeting
("co-reviewer"), faculty B speaks elsewhere, a reviewer of the meeting with no tie to
either, the meeting's staff, the staff of another meeting ("other"), a site-wide auditor
(reads records, changes nothing) and a site administrator. A has a
disclosure, a relevant determination and a mitigation. Each route's arguments point at
A's objects, so the rows answer "who may see or change A's record?".

Statuses: ``302L`` is a redirect to the login page; ``401`` is the JSON API's answer to a
request without a bearer token (a browser log-in is not one: every role gets it); ``!`` after a status means the
request may change the database (an allowed action, an export that is audited, a
log-out that revokes the session).
Every other request, and every refused one, must leave every row of every table as it
was. A 403 must say why.

A new route without a row here fails ``test_every_route_is_in_the_table``: add a row
(and think about who may use it) before it ships.
"""

from __future__ import annotations

import pytest

from disclosures.extensions import db

from .routes import ROLES, build_world, checked_rules, database_digest, url_for_rule

#  endpoint                         method   anon  fac_a fac_b co_rv rev   staff other audit admin
TABLE = """
api.activities                      GET      401   401   401   401   401   401   401   401   401
api.activity                        GET      401   401   401   401   401   401   401   401   401
api.meeting                         GET      401   401   401   401   401   401   401   401   401
api.meetings                        GET      401   401   401   401   401   401   401   401   401
api.openapi                         GET      200   200   200   200   200   200   200   200   200
api.room                            GET      401   401   401   401   401   401   401   401   401
api_tokens.token_revoke             POST     302L  403   403   403   403   302!  403   403   400
api_tokens.tokens                   GET      302L  403   403   403   403   200   403   403   200
api_tokens.tokens                   POST     302L  403   403   403   403   400   403   403   400
auth.accept_invitation              GET      200   200   200   200   200   200   200   200   200
auth.accept_invitation              POST     400   400   400   400   400   400   400   400   400
auth.account                        GET      302L  200   200   200   200   200   200   200   200
auth.change_password                GET      302L  200   200   200   200   200   200   200   200
auth.change_password                POST     302L  400   400   400   400   400   400   400   400
auth.login                          GET      200   302   302   302   302   302   302   302   302
auth.login                          POST     400   302   302   302   302   302   302   302   302
auth.logout                         POST     302L  302L! 302L! 302L! 302L! 302L! 302L! 302L! 302L!
auth.logout_everywhere              POST     302L  302L! 302L! 302L! 302L! 302L! 302L! 302L! 302L!
auth.request_password_reset         GET      200   200   200   200   200   200   200   200   200
auth.request_password_reset         POST     400   400   400   400   400   400   400   400   400
auth.reset_password                 GET      200   200   200   200   200   200   200   200   200
auth.reset_password                 POST     400   400   400   400   400   400   400   400   400
faculty.company_suggestions         GET      302L  200   200   200   200   200   200   200   200
faculty.disclose                    GET      302L  200   200   200   200   200   200   200   200
faculty.disclose                    POST     302L  400   400   400   400   400   400   400   400
faculty.disclosure                  GET      302L  200   403   403   200   200   403   200   200
faculty.home                        GET      302L  200   200   200   200   200   200   200   200
faculty.off_label                   GET      302L  200   403   403   403   403   403   403   403
faculty.off_label                   POST     302L  400   403   403   403   403   403   403   403
jobs.download                       GET      302L  403   403   403   403   200!  403   200!  200!
jobs.meeting_jobs                   GET      302L  403   403   403   403   200   403   403   200
jobs.show                           GET      302L  403   403   403   403   200   403   200   200
main.health                         GET      200   200   200   200   200   200   200   200   200
main.home                           GET      302L  302   302   302   302   302   302   302   302
openpayments.import_files           GET      302L  403   403   403   403   200   200   403   200
openpayments.import_files           POST     302L  403   403   403   403   400   400   403   400
openpayments.manufacturer_link      POST     302L  403   403   403   403   400   400   403   400
openpayments.manufacturers          GET      302L  403   403   403   403   200   200   403   200
openpayments.my_npi                 GET      302L  200   200   200   200   200   200   200   200
openpayments.my_npi                 POST     302L  302   302   302   302   302   302   302   302
openpayments.person_npi             GET      302L  403   403   403   403   200   403   403   200
openpayments.person_npi             POST     302L  403   403   403   403   302   403   403   302
openpayments.record_action          POST     302L  403   403   403   400   400   403   403   400
programme.confirm                   POST     302L  403   403   403   403   400   403   403   400
programme.map_columns               POST     302L  403   403   403   403   400   403   403   400
programme.upload                    GET      302L  403   403   403   403   200   403   403   200
programme.upload                    POST     302L  403   403   403   403   400   403   403   400
public.all_faculty                  GET      200   200   200   200   200   200   200   200   200
public.all_faculty_letter           GET      200   200   200   200   200   200   200   200   200
public.all_faculty_pdf              GET      200   200   200   200   200   200   200   200   200
public.assignment_slide             GET      302L  200   403   403   200   200   403   200   200
public.meeting_faculty              GET      200   200   200   200   200   200   200   200   200
public.meeting_faculty_letter       GET      200   200   200   200   200   200   200   200   200
public.meeting_faculty_pdf          GET      200   200   200   200   200   200   200   200   200
public.room_sheet                   GET      200   200   200   200   200   200   200   200   200
public.room_sheet_pdf               GET      200   200   200   200   200   200   200   200   200
records.audit_log                   GET      302L  403   403   403   403   200   200   200   200
records.csv_download                GET      302L  403   403   403   403   200!  403   200!  200!
records.index                       GET      302L  403   403   403   403   200   403   200   200
records.sheet_versions              GET      302L  403   403   403   403   200   403   200   200
records.json_download               GET      302L  403   403   403   403   200!  403   200!  200!
records.zip_start                   POST     302L  403   403   403   403   302!  403   302!  302!
registry.companies                  GET      302L  403   403   403   403   200   200   403   200
registry.company                    GET      302L  403   403   403   403   200   200   403   200
registry.company_alias              POST     302L  403   403   403   403   400   400   403   400
registry.company_confirm            POST     302L  403   403   403   403   400   400   403   400
registry.company_merge              POST     302L  403   403   403   403   400   400   403   400
registry.owner_decision             GET      302L  403   403   403   403   200   403   403   200
registry.owner_decision             POST     302L  403   403   403   403   400   403   403   400
registry.owner_decisions            GET      302L  403   403   403   403   200   403   403   200
reminders.overview                  GET      302L  403   403   403   403   200   403   403   200
reminders.send_disclosure           POST     302L  403   403   403   403   302!  403   403   302!
reminders.send_review               POST     302L  403   403   403   403   302!  403   403   302!
review.decide                       POST     302L  403   403   403   400   400   403   403   400
review.mitigate                     POST     302L  403   403   403   400   400   403   403   400
review.none_relevant                POST     302L  403   403   403   400   400   403   403   400
review.person                       GET      302L  403   403   403   200   200   403   403   200
review.queue                        GET      302L  403   403   200   200   200   200   403   200
staff.access                        GET      302L  403   403   403   403   200   403   403   200
staff.access                        POST     302L  403   403   403   403   400   403   403   400
staff.planning_roles                GET      302L  403   403   403   403   200   403   403   200
staff.planning_roles                POST     302L  403   403   403   403   400   403   403   400
staff.access_remove                 POST     302L  403   403   403   403   302!  403   403   302!
staff.activity_edit                 GET      302L  403   403   403   403   200   403   403   200
staff.activity_edit                 POST     302L  403   403   403   403   400   403   403   400
staff.activity_new                  GET      302L  403   403   403   403   200   403   403   200
staff.activity_new                  POST     302L  403   403   403   403   400   403   403   400
staff.assignment_new                GET      302L  403   403   403   403   200   403   403   200
staff.assignment_new                POST     302L  403   403   403   403   400   403   403   400
staff.assignment_remove             POST     302L  403   403   403   403   302!  403   403   302!
staff.dashboard                     GET      302L  403   403   403   403   200   403   403   200
staff.starting_soon                 GET      302L  403   403   403   403   200   403   403   200
staff.dashboard_csv                 GET      302L  403   403   403   403   200   403   403   200
staff.invite                        GET      302L  403   403   403   403   403   403   403   200
staff.invite                        POST     302L  403   403   403   403   403   403   403   400
staff.meeting                       GET      302L  403   403   403   403   200   403   403   200
staff.meeting_edit                  GET      302L  403   403   403   403   200   403   403   200
staff.meeting_edit                  POST     302L  403   403   403   403   400   403   403   400
staff.meeting_new                   GET      302L  403   403   403   403   403   403   403   200
staff.meeting_new                   POST     302L  403   403   403   403   403   403   403   400
staff.meetings                      GET      302L  403   403   403   403   200   200   200   200
staff.room_edit                     GET      302L  403   403   403   403   200   403   403   200
staff.room_edit                     POST     302L  403   403   403   403   302   403   403   302
staff.room_new                      GET      302L  403   403   403   403   200   403   403   200
staff.room_new                      POST     302L  403   403   403   403   400   403   403   400
staff.room_qr_png                   GET      302L  403   403   403   403   200   403   403   200
staff.room_qr_svg                   GET      302L  403   403   403   403   200   403   403   200
staff.room_reissue_token            GET      302L  403   403   403   403   200   403   403   200
staff.room_reissue_token            POST     302L  403   403   403   403   302!  403   403   302!
staff.room_sign                     GET      302L  403   403   403   403   200   403   403   200
staff.rooms                         GET      302L  403   403   403   403   200   403   403   200
staff.support                       GET      302L  403   403   403   403   200   403   403   200
staff.support                       POST     302L  403   403   403   403   400   403   403   400
staff.support_remove                POST     302L  403   403   403   403   302!  403   403   400
"""


def _parse(table: str) -> dict[tuple[str, str], dict[str, str]]:
    rows = {}
    for line in table.strip().splitlines():
        endpoint, method, *cells = line.split()
        assert len(cells) == len(ROLES), f"row {endpoint} {method} needs one cell per role"
        assert (endpoint, method) not in rows, f"row {endpoint} {method} is listed twice"
        rows[(endpoint, method)] = dict(zip(ROLES, cells, strict=True))
    return rows


EXPECTED = _parse(TABLE)


def test_every_route_is_in_the_table(app):
    routes = {(endpoint, method) for endpoint, method, _ in checked_rules(app)}
    unlisted = sorted(routes - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - routes)
    assert not unlisted, f"routes with no row in the authorisation table: {unlisted}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


def test_table_refuses_more_than_it_allows_for_outsiders():
    # A sanity check on the table itself: faculty B (no tie to A) is refused A's private pages.
    refused = [key for key, cells in EXPECTED.items() if cells["faculty_b"] == "403"]
    assert ("faculty.disclosure", "GET") in refused
    assert ("review.person", "GET") in refused
    assert ("records.zip_start", "POST") in refused
    assert ("jobs.download", "GET") in refused


@pytest.mark.parametrize(("endpoint", "method"), sorted(EXPECTED), ids=lambda v: v)
def test_route_answers_each_user_as_the_table_says(app, login_as, endpoint, method):
    rules = {}
    for e, m, rule in checked_rules(app):  # an endpoint with two rules: its first, canonical one
        rules.setdefault((e, m), rule)
    if (endpoint, method) not in rules:
        pytest.fail(f"{endpoint} {method} is in the table but not in the app")
    world = build_world()
    db.session.commit()
    url = url_for_rule(rules[(endpoint, method)], world)

    problems = []
    for role in ROLES:
        cell = EXPECTED[(endpoint, method)][role]
        expected_status = int(cell.rstrip("L!"))
        user = world.user(role)
        client = login_as(user) if user is not None else app.test_client()
        before = database_digest()
        response = client.open(url, method=method)
        after = database_digest()
        status = response.status_code
        if status != expected_status:
            problems.append(f"{role}: {method} {url} answered {status}, the table says {cell}")
            continue
        if "L" in cell:
            location = response.headers.get("Location", "")
            if "/login" not in location:
                problems.append(f"{role}: {url} redirected to {location!r}, not to the login page")
        if status == 403 and '<p class="lead">' not in response.get_data(as_text=True):
            problems.append(f"{role}: the 403 from {url} does not say why")
        if "!" not in cell and after != before:
            problems.append(f"{role}: {method} {url} ({status}) changed the database")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ what the public sees


def test_public_pages_show_only_reviewed_relevant_companies_and_nothing_internal(app):
    """Room sheet and booklet, HTML and PDF: A's relevant (mitigated) company, never the
    irrelevant one, an unreviewed one, a rationale, a mitigation note or an email."""
    import io

    import pypdf

    from disclosures.enums import Nature

    from . import factories

    world = build_world()
    # A's second relationship is judged not relevant, so A is cleared.
    factories.determination(world.other_relationship, world.assignment_a, world.reviewer,
                            relevant=False, rationale="Secret reasoning about biologics.")
    # C speaks in the same room and has disclosed, but nobody has reviewed it yet.
    carol = factories.user(full_name="Carol Unreviewed")
    factories.assignment(carol, factories.activity(world.meeting, world.room, title="Cervical talk"))
    factories.disclosure(carol, [(factories.company("Unreviewed Implants"), Nature.CONSULTANT)])
    db.session.commit()
    secrets_ = ["Other Biologics", "Unreviewed Implants", "Judged by the reviewer.",
                "Secret reasoning", "Slides reviewed.", "@example.org", "/review/", "/staff/"]
    client = app.test_client()
    for url in (f"/r/{world.room.public_token}", f"/m/{world.meeting.slug}/disclosures"):
        page = client.get(url).get_data(as_text=True)
        assert "Acme Spine Devices" in page, url
        assert "Alice Able" in page and "Carol Unreviewed" in page, url
        for secret in secrets_:
            assert secret not in page, f"{url} shows {secret!r}"
        response = client.get(url + ".pdf")
        text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.data)).pages)
        text = " ".join(text.split())
        assert "Acme Spine Devices" in text, url
        for secret in secrets_:
            assert secret not in text, f"{url}.pdf shows {secret!r}"
