"""flask publish-static DIR: the public sheets as files for nginx, swapped in atomically."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.public.publish import PublishError, nginx_snippet, publish_static

from . import factories


@pytest.fixture()
def published_meeting(app):
    """A meeting with one room and a cleared speaker who has a relevant, mitigated relationship."""
    meeting = factories.meeting(name="Spine Forum", slug="spine-forum")
    room = factories.room(meeting, "Ballroom A")
    activity = factories.activity(meeting, room, title="Lumbar fusion update")
    reviewer = factories.user()
    speaker = factories.user(full_name="Amelia Speaker")
    disclosure = factories.disclosure(speaker, [(factories.company("Meridian Spine"), Nature.CONSULTANT)])
    assignment = factories.assignment(speaker, activity)
    determination = factories.determination(disclosure.relationships[0], assignment, reviewer,
                                            relevant=True)
    factories.mitigation(determination, reviewer)
    db.session.commit()
    return meeting, room


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_publish_static_writes_each_page_as_the_app_serves_it(app, client, published_meeting, tmp_path):
    meeting, room = published_meeting
    root = tmp_path / "site"
    result = publish_static(root)
    files = _tree(root)
    assert files[f"r/{room.public_token}.html"] == client.get(f"/r/{room.public_token}").data
    assert b"Amelia Speaker" in files[f"r/{room.public_token}.html"]
    assert b"Meridian Spine" in files[f"r/{room.public_token}.html"]
    assert files[f"r/{room.public_token}.pdf"].startswith(b"%PDF")
    assert files["m/spine-forum/disclosures.pdf"].startswith(b"%PDF")
    assert b"Amelia Speaker" in files["m/spine-forum/disclosures.html"]
    assert b"Amelia Speaker" in files["disclosures.html"]  # the current meeting
    assert "static/css/app.css" in files
    assert result.written == len(result.files) and result.unchanged == 0
    assert root.is_symlink()


def test_publish_static_run_again_without_changes_rewrites_nothing(app, published_meeting, tmp_path):
    _, room = published_meeting
    root = tmp_path / "site"
    publish_static(root)
    target = os.readlink(root)
    sheet = root / "r" / f"{room.public_token}.html"
    inode, mtime = sheet.stat().st_ino, sheet.stat().st_mtime_ns
    again = publish_static(root)
    assert again.written == 0 and again.removed == 0 and again.unchanged == len(again.files)
    assert os.readlink(root) == target  # the tree nginx serves was left alone
    assert (sheet.stat().st_ino, sheet.stat().st_mtime_ns) == (inode, mtime)


def test_publish_static_after_token_reissue_swaps_in_new_tree_without_old_code(
        app, published_meeting, tmp_path):
    meeting, room = published_meeting
    root = tmp_path / "site"
    publish_static(root)
    first_version = Path(os.path.realpath(root))
    old_token = room.public_token
    css_inode = (root / "static/css/app.css").stat().st_ino
    new_token = room.reissue_token()
    db.session.commit()
    result = publish_static(root)
    files = _tree(root)
    assert f"r/{new_token}.html" in files and f"r/{new_token}.pdf" in files
    assert f"r/{old_token}.html" not in files and f"r/{old_token}.pdf" not in files
    assert result.removed >= 2 and result.written >= 2
    assert (root / "static/css/app.css").stat().st_ino == css_inode  # unchanged: hard-linked
    assert not first_version.exists()  # the previous version is gone once swapped out


def test_publish_static_refuses_a_directory_it_did_not_make(app, published_meeting, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "important.txt").write_text("keep me")
    with pytest.raises(PublishError, match="was not made by publish-static"):
        publish_static(root)
    assert (root / "important.txt").read_text() == "keep me"


def test_publish_static_command_reports_counts_and_rejects_unknown_meeting(
        app, published_meeting, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["publish-static", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "0 removed" in result.output
    unknown = runner.invoke(args=["publish-static", str(tmp_path / "other"), "--meeting", "nope"])
    assert unknown.exit_code != 0 and "No meeting with the slug nope" in unknown.output
    assert not (tmp_path / "other").exists()


@pytest.fixture()
def crowded_letter(published_meeting):
    """105 more speakers under S (with Amelia Speaker: two pages of S), in the same talk."""
    meeting, room = published_meeting
    activity = room.activities[0]
    added = [factories.assignment(factories.user(full_name=f"Sol Sample{n:03}", password=False), activity)
             for n in range(105)]
    db.session.commit()
    return meeting, added


def test_publish_static_writes_the_letter_pages_and_never_a_search(app, client, crowded_letter, tmp_path):
    root = tmp_path / "site"
    publish_static(root)
    files = _tree(root)
    for prefix in ("m/spine-forum/disclosures", "disclosures"):
        first, second = files[f"{prefix}/s.html"], files[f"{prefix}/s/2.html"]
        assert first == client.get(f"/{prefix}/s").data
        assert second == client.get(f"/{prefix}/s/2").data
        assert b"Sol Sample000" in first and b"Sol Sample104" in second
        assert b"Amelia Speaker" in second  # Speaker sorts after Sample
    assert b"Sol Sample000" not in files["m/spine-forum/disclosures.html"]  # letters, not everyone
    assert b'href="/disclosures/s"' in files["disclosures.html"]
    letter_files = sorted(name for name in files if "/disclosures/" in name or name.startswith("disclosures/"))
    assert letter_files == ["disclosures/s.html", "disclosures/s/2.html",
                            "m/spine-forum/disclosures/s.html", "m/spine-forum/disclosures/s/2.html"]
    assert not [name for name in files if "?" in name or "q=" in name]


def test_publish_static_drops_a_letter_page_that_no_longer_exists(app, crowded_letter, tmp_path):
    _meeting, added = crowded_letter
    root = tmp_path / "site"
    publish_static(root)
    assert (root / "m/spine-forum/disclosures/s/2.html").is_file()
    from disclosures.staff.operations import remove_assignment

    for assignment in added[:10]:
        remove_assignment(None, assignment)
    db.session.commit()
    result = publish_static(root)
    assert not (root / "m/spine-forum/disclosures/s/2.html").exists()
    assert not (root / "disclosures/s/2.html").exists()
    assert b"Amelia Speaker" in (root / "m/spine-forum/disclosures/s.html").read_bytes()
    assert result.removed >= 2


def _page_location(snippet: str) -> re.Pattern:
    """The regular expression of the nginx location that serves published pages (<path>.html)."""
    for block in re.findall(r"location ~ (\S+) \{([^}]*)\}", snippet):
        if "try_files $uri.html @app;" in block[1]:
            return re.compile(block[0])
    raise AssertionError("no location serves <path>.html")


def test_nginx_snippet_serves_letter_pages_from_files_and_searches_from_the_app(app, tmp_path):
    snippet = nginx_snippet(tmp_path / "site", "127.0.0.1:8000")
    pages = _page_location(snippet)
    for path in ("/r/AbC_9-x", "/disclosures", "/disclosures/k", "/disclosures/other",
                 "/disclosures/k/2", "/m/spine-forum/disclosures", "/m/spine-forum/disclosures/k",
                 "/m/spine-forum/disclosures/k/12"):
        assert pages.match(path), path
    for path in ("/disclosures/", "/disclosures/K", "/disclosures/k/", "/disclosures/k/2/3",
                 "/m/spine-forum/disclosures/k.pdf", "/staff/meetings", "/m/Spine/disclosures"):
        assert not pages.match(path), path
    # A query string (a search, a page of results) never reads a file: the app answers it.
    assert re.search(r'map \$args \$disclosures_static \{\s*""\s+\S+;\s*default /nonexistent;', snippet)
    assert "root $disclosures_static;" in snippet


def test_nginx_snippet_serves_files_and_falls_back_to_the_app(app, tmp_path):
    text = nginx_snippet(tmp_path / "site", "127.0.0.1:8000")
    assert str(tmp_path / "site") in text
    assert "try_files $uri.html @app;" in text and "try_files $uri @app;" in text
    assert "server 127.0.0.1:8000;" in text
    assert "Content-Security-Policy" in text
    assert "gzip on;" in text and "gzip_proxied any;" in text  # HTML to phones, compressed
    printed = app.test_cli_runner().invoke(
        args=["publish-static", str(tmp_path / "site"), "--print-nginx"])
    assert printed.exit_code == 0 and "proxy_pass http://disclosures_app;" in printed.output
    assert not (tmp_path / "site").exists()


def test_publish_static_keeps_a_pdf_rebuilt_with_only_a_new_build_time(app, client, published_meeting):
    from disclosures.public.publish import _same_document

    _, room = published_meeting
    pdf = client.get(f"/r/{room.public_token}.pdf").data
    stamp = re.search(rb"/CreationDate \(D:[^)]*\)", pdf).group(0)
    rebuilt = pdf.replace(stamp, b"/CreationDate (D:20200101000000+00'00')")
    assert rebuilt != pdf and _same_document(pdf, rebuilt)
    edited = pdf.replace(b"%%EOF", b"% changed\n%%EOF")
    assert not _same_document(pdf, edited)
    assert not _same_document(b"<p>Amelia</p>", b"<p>Amelie</p>")
