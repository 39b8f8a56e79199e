"""The all-faculty page at any meeting size: searches of at least two letters, a page of
results at a time, one page per letter of the family name, and a per-client search limit
that never touches the room sheets."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from disclosures.demo import load_demo_meeting
from disclosures.extensions import db, limiter
from disclosures.models import Meeting
from disclosures.public import microcache

from . import factories
from .test_public_sheet import html_text

PERSON = re.compile(r'<h2 id="person-\d+" class="sheet-person-name">([^<]+)</h2>')


def names(response) -> list[str]:
    """The people listed on an all-faculty page, in order."""
    import html

    return [html.unescape(name) for name in PERSON.findall(response.get_data(as_text=True))]


def letter_links(response) -> dict[str, str]:
    """Letter label → address, from the letter navigation."""
    page = response.get_data(as_text=True)
    nav = re.search(r'<nav class="subnav" aria-label="Faculty by the first letter[^"]*">(.*?)</nav>',
                    page, re.S)
    assert nav, "no letter navigation on the page"
    return {label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)<', nav.group(1))}


@pytest.fixture(autouse=True)
def empty_cache():
    microcache.clear()
    yield
    microcache.clear()


@pytest.fixture()
def demo(app):
    load_demo_meeting(password="demo password 1")
    db.session.commit()
    return db.session.scalars(sa.select(Meeting)).one()


@pytest.fixture()
def crowd(app):
    """A meeting of 130 people in one talk: 120 'Sample' people (family names Sample000 …
    Sample119) and 10 'Other' people, more than fit on one page."""
    meeting = factories.meeting(name="Crowded Course", slug="crowded")
    room = factories.room(meeting, "Main Hall")
    activity = factories.activity(meeting, room, title="Everyone on stage")
    for n in range(120):
        factories.assignment(factories.user(full_name=f"Pat Sample{n:03}", password=False), activity)
    for n in range(10):
        factories.assignment(factories.user(full_name=f"Kim Other{n:02}", password=False), activity)
    db.session.commit()
    return {"meeting": meeting, "token": room.public_token}


# --- Searches --------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["a", " É ", "é", "%C3%89"])
def test_all_faculty_one_letter_search_gets_a_message_and_no_list(client, demo, query):
    response = client.get(f"/disclosures?q={query}")
    assert response.status_code == 400
    text = html_text(response)
    assert "Type at least 2 letters of a name or a company" in text
    assert names(response) == []
    assert "Maria Okafor" not in text
    assert letter_links(response)  # the letters are still there to browse by


def test_all_faculty_two_letter_search_lists_matches(client, demo):
    response = client.get("/disclosures?q=AL")
    assert response.status_code == 200
    assert "José Álvarez-Peña, MD" in names(response)


def test_all_faculty_search_results_come_a_page_at_a_time(client, crowd):
    first = client.get("/m/crowded/disclosures?q=sample")
    assert first.status_code == 200
    assert names(first) == [f"Pat Sample{n:03}, MD" for n in range(50)]
    assert "120 of 130 people match “sample”. Showing 1–50." in html_text(first)
    assert "Page 1 of 3" in html_text(first)
    # The next page is a plain link (no JavaScript), keeping the search.
    next_link = re.search(r'<a class="button small" href="([^"]+)" rel="next">Next</a>',
                          first.get_data(as_text=True)).group(1)
    assert next_link.replace("&amp;", "&") == "/m/crowded/disclosures?q=sample&page=2"
    second = client.get("/m/crowded/disclosures?q=sample&page=2")
    assert names(second) == [f"Pat Sample{n:03}, MD" for n in range(50, 100)]
    assert "Showing 51–100." in html_text(second) and 'rel="prev"' in second.get_data(as_text=True)
    third = client.get("/m/crowded/disclosures?q=sample&page=3")
    assert names(third) == [f"Pat Sample{n:03}, MD" for n in range(100, 120)]
    assert 'rel="next"' not in third.get_data(as_text=True)
    assert first.headers["ETag"] != second.headers["ETag"]


def test_all_faculty_search_page_past_the_end_or_not_a_number_is_refused(client, crowd):
    past = client.get("/m/crowded/disclosures?q=sample&page=4")
    assert past.status_code == 404 and "There is no page 4 of this search" in html_text(past)
    bad = client.get("/m/crowded/disclosures?q=sample&page=two")
    assert bad.status_code == 400 and "The page number must be a whole number" in html_text(bad)
    assert names(bad) == []


# --- Letters ---------------------------------------------------------------------------------

def test_all_faculty_of_a_large_meeting_lists_letters_not_everyone(client, crowd):
    response = client.get("/m/crowded/disclosures")
    assert response.status_code == 200
    assert names(response) == []
    assert "130 people. Choose the first letter of the family name" in html_text(response)
    assert letter_links(response) == {"O": "/m/crowded/disclosures/o", "S": "/m/crowded/disclosures/s"}
    current = client.get("/disclosures")  # the current meeting's page links to its own letters
    assert letter_links(current) == {"O": "/disclosures/o", "S": "/disclosures/s"}


def test_all_faculty_letter_page_shows_only_that_letters_people(client, demo):
    index = client.get(f"/m/{demo.slug}/disclosures")
    links = letter_links(index)
    assert links["A"] == f"/m/{demo.slug}/disclosures/a" and "Other" in links
    page = client.get(links["A"])
    assert page.status_code == 200
    listed = names(page)
    assert "José Álvarez-Peña, MD" in listed  # accents folded: Á is under A
    assert listed and all(re.sub(r",.*", "", n).split()[-1][0] in "AÁ" for n in listed)
    assert "Zoë Brontë-Søndergaard" not in html_text(page)
    assert letter_links(page) == links  # every letter, from every letter page
    assert 'aria-current="page">A<' in page.get_data(as_text=True)
    other = names(client.get(links["Other"]))
    assert sorted(other) == ["Дмитрий Соколов, MD", "王伟 (Wang Wei), MD"]


def test_all_faculty_letter_pages_hold_at_most_a_hundred_people(client, crowd):
    first = client.get("/m/crowded/disclosures/s")
    assert names(first) == [f"Pat Sample{n:03}, MD" for n in range(100)]
    assert "120 people. Showing 1–100." in html_text(first)
    second = client.get("/m/crowded/disclosures/s/2")
    assert names(second) == [f"Pat Sample{n:03}, MD" for n in range(100, 120)]
    assert client.get("/m/crowded/disclosures/s/3").status_code == 404
    canonical = client.get("/m/crowded/disclosures/s/1")
    assert canonical.status_code == 308 and canonical.headers["Location"].endswith("/m/crowded/disclosures/s")
    assert names(client.get("/disclosures/o")) == [f"Kim Other{n:02}, MD" for n in range(10)]


def test_all_faculty_unknown_or_empty_letter(client, crowd):
    unknown = client.get("/m/crowded/disclosures/zz")
    assert unknown.status_code == 404 and "letters A to Z and Other" in html_text(unknown)
    empty = client.get("/m/crowded/disclosures/q")
    assert empty.status_code == 200 and "Nobody’s family name is listed under Q" in html_text(empty)
    assert client.get("/m/no-such-meeting/disclosures/a").status_code == 404


def test_all_faculty_letter_page_answers_304_when_unchanged(client, crowd):
    first = client.get("/m/crowded/disclosures/s/2")
    again = client.get("/m/crowded/disclosures/s/2", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.slow
def test_no_all_faculty_page_of_the_large_meeting_is_over_256_kb(client, app):
    """2,000 faculty: the page of everyone was 1.9 MB; now every page, followed by its
    links, and a search matching nearly everyone stays under the bound."""
    from datetime import date

    from disclosures.largedemo import load_large_meeting

    load_large_meeting(today=date.today(), password="demo password 1")
    db.session.commit()
    index = client.get("/disclosures")
    sizes = {"/disclosures": len(index.data)}
    for url in letter_links(index).values():
        while url:
            response = client.get(url)
            assert response.status_code == 200, url
            sizes[url] = len(response.data)
            found = re.search(r'href="([^"]+)" rel="next"', response.get_data(as_text=True))
            url = found.group(1) if found else None
    broad = client.get("/disclosures?q=an")
    assert broad.status_code == 200 and "Page 1 of" in html_text(broad)
    sizes["/disclosures?q=an"] = len(broad.data)
    biggest = max(sizes, key=sizes.get)
    print(f"\nlargest all-faculty page: {biggest} {sizes[biggest] / 1024:.0f} KB of {len(sizes)} pages")
    assert len(sizes) > 20
    assert sizes[biggest] <= 256 * 1024, f"{biggest} is {sizes[biggest]} bytes"


# --- Search limit ----------------------------------------------------------------------------

@pytest.fixture()
def limited(app, make_app):
    strict = make_app(SEARCH_RATE_LIMIT="3 per minute")
    limiter.reset()
    yield strict
    limiter.reset()


def test_searches_are_limited_per_client_but_room_sheets_and_letters_are_not(limited, crowd):
    client = limited.test_client()
    for query in ("sample", "other", "pat"):
        assert client.get(f"/disclosures?q={query}").status_code == 200
    refused = client.get("/m/crowded/disclosures?q=kim")  # one budget for both addresses
    assert refused.status_code == 429
    assert "Searches from your connection are limited" in html_text(refused)
    assert "choose the first letter of the family name" in html_text(refused)
    assert int(refused.headers["Retry-After"]) > 0
    assert names(refused) == []
    for _ in range(5):
        assert client.get(f"/r/{crowd['token']}").status_code == 200
        assert client.get(f"/r/{crowd['token']}.pdf").status_code == 200
        assert client.get("/disclosures/s").status_code == 200
        assert client.get("/m/crowded/disclosures").status_code == 200
    another = client.get("/disclosures?q=sample", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert another.status_code == 200  # the limit is per client address
