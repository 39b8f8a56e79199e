"""With CSRF on (as in production), every POST without a token is refused and changes nothing."""

import pytest
import sqlalchemy as sa
from werkzeug.routing.converters import NumberConverter

from disclosures.extensions import db

from . import factories


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def _sample_url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if isinstance(converter, NumberConverter) else "x"
    return rule.build(values, append_unknown=False)[1]


@pytest.fixture()
def csrf_app(make_app, app):
    return make_app(WTF_CSRF_ENABLED=True)


def _post_rules(an_app):
    return sorted(
        (rule for rule in an_app.url_map.iter_rules() if "POST" in rule.methods),
        key=lambda rule: rule.rule,
    )


def test_there_are_post_routes_to_check(csrf_app):
    assert len(_post_rules(csrf_app)) >= 5


@pytest.mark.parametrize("as_role", [None, "faculty", "admin"])
def test_every_post_without_token_is_refused_and_changes_nothing(csrf_app, as_role):
    client = csrf_app.test_client()
    if as_role is not None:
        person = factories.admin() if as_role == "admin" else factories.user()
        db.session.commit()
        # Log in through the form with its token, as a browser would.
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
        response = client.post(
            "/login", data={"csrf_token": token, "email": person.email, "password": factories.PASSWORD}
        )
        assert response.status_code == 302
    before = _row_counts()
    checked = []
    for rule in _post_rules(csrf_app):
        url = _sample_url(rule)
        response = client.post(url, data={"email": "x@example.org", "password": "x" * 12})
        assert response.status_code == 400, f"{url} answered {response.status_code} without a CSRF token"
        assert "security token" in response.get_data(as_text=True)
        checked.append(url)
    assert _row_counts() == before
    assert "/login" in checked and "/logout" in checked
