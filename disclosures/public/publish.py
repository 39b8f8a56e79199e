"""``flask publish-static DIR``: the public sheets as files, for nginx or a CDN in front.

Every public page a QR code or link leads to is written under the path it has in
the app: ``r/<token>.html`` and ``r/<token>.pdf`` for each room,
``m/<slug>/disclosures.html`` and ``.pdf`` for each meeting, ``disclosures.html``
and ``.pdf`` for the current meeting, the letter pages those link to
(``m/<slug>/disclosures/<letter>.html``, ``…/<letter>/<n>.html``), and ``static/``
(CSS, icons). Searches (a query string) are never published: nginx sends them to the app.

The pages are fetched through the app itself (its test client, as an anonymous
attendee), so the files are byte for byte what the app serves and nothing is
rendered twice. Publishing is atomic and incremental:

* ``DIR`` is a symbolic link to a version directory beside it
  (``.DIR.versions/<n>``). A run builds a new version, then swaps the link with
  one ``rename``: nginx sees the old tree or the new one, never half of each.
* A file whose bytes did not change is hard-linked from the previous version,
  so it keeps its modification time (nginx's ETag and Last-Modified stay the
  same and browsers keep getting 304); only changed files are written. When
  nothing changed, the link is left alone.
* Rooms whose code was re-issued, and meetings no longer published, disappear
  from the new version. Run it every minute (cron or a systemd timer): that is
  how long a re-issued code or a new determination can take to reach the files.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app

from ..documents import data
from ..extensions import db
from ..models import Meeting, Room
from ..web import CONTENT_SECURITY_POLICY

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MANIFEST = ".etags.json"  # not served: nginx only serves the public paths


class PublishError(RuntimeError):
    pass


@dataclass
class PublishResult:
    root: Path
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def meetings_to_publish(slugs: Iterable[str] = ()) -> list[Meeting]:
    """The meetings named, else every meeting not over yet plus the current one."""
    slugs = list(slugs)
    if slugs:
        found = db.session.scalars(sa.select(Meeting).where(Meeting.slug.in_(slugs))).all()
        missing = set(slugs) - {m.slug for m in found}
        if missing:
            raise PublishError(f"No meeting with the slug {', '.join(sorted(missing))}.")
        return sorted(found, key=lambda m: m.starts_on)
    today = datetime.now(UTC).date()
    found = list(db.session.scalars(
        sa.select(Meeting).where(Meeting.ends_on >= today - timedelta(days=1))
        .order_by(Meeting.starts_on)))
    current = data.current_meeting(today)
    if current is not None and current not in found:
        found.append(current)
    return found


def _pages(meetings: list[Meeting]) -> Iterator[tuple[str, str]]:
    """(relative file path, URL path) of every page to publish but the letter pages, which
    are found by following the all-faculty pages' links (``_letter_pages``)."""
    current = data.current_meeting(datetime.now(UTC).date())
    for meeting in meetings:
        tokens = db.session.scalars(
            sa.select(Room.public_token).where(Room.meeting_id == meeting.id).order_by(Room.id))
        for token in tokens:
            yield f"r/{token}.html", f"/r/{token}"
            yield f"r/{token}.pdf", f"/r/{token}.pdf"
        yield f"m/{meeting.slug}/disclosures.html", f"/m/{meeting.slug}/disclosures"
        yield f"m/{meeting.slug}/disclosures.pdf", f"/m/{meeting.slug}/disclosures.pdf"
        if current is not None and meeting.id == current.id:
            yield "disclosures.html", "/disclosures"
            yield "disclosures.pdf", "/disclosures.pdf"


# The all-faculty pages of a meeting: ``/disclosures`` or ``/m/<slug>/disclosures``, and its
# letter pages below it (the same shape as the nginx location of pages).
_FACULTY_PAGE = re.compile(r"^/(?:m/[a-z0-9-]+/)?disclosures$")
_LETTER_PAGE = r"/[a-z]+(?:/[0-9]+)?"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def _letter_pages(page_url: str, html: bytes, index_url: str) -> list[str]:
    """The letter pages of the all-faculty page ``index_url`` that ``html`` links to: followed
    from the page itself, so what is published is what the app links to (letters, and the
    further pages of a long letter), whatever the page sizes."""
    links = _Links()
    links.feed(html.decode("utf-8", "replace"))
    shape = re.compile(re.escape(index_url) + _LETTER_PAGE + "$")
    return [href for href in dict.fromkeys(links.hrefs) if shape.match(href) and href != page_url]


def _static_files() -> Iterator[tuple[str, bytes]]:
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            yield f"static/{path.relative_to(STATIC_DIR).as_posix()}", path.read_bytes()


@contextmanager
def _lock(root: Path):
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(f"Another publish-static is writing {root}; try again.") from None
        yield


def _current_version(root: Path, versions: Path) -> Path | None:
    if root.is_symlink():
        target = Path(os.readlink(root))
        target = target if target.is_absolute() else root.parent / target
        return target if target.is_dir() else None
    if root.exists():
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # an empty directory made by hand: ours to replace
            return None
        raise PublishError(
            f"{root} exists and was not made by publish-static: choose a new or empty path.")
    return None


def publish_static(root: Path | str, slugs: Iterable[str] = ()) -> PublishResult:
    """Write every public page under ``root``; see the module docstring. Needs an app context."""
    root = Path(root).absolute()
    root.parent.mkdir(parents=True, exist_ok=True)
    versions = root.parent / f".{root.name}.versions"
    versions.mkdir(exist_ok=True)
    result = PublishResult(root=root)
    with _lock(root):
        old = _current_version(root, versions)
        new = Path(tempfile.mkdtemp(dir=versions, prefix=f"{time.time_ns()}-"))
        try:
            client = current_app.test_client()
            etags = _read_manifest(old)
            manifest: dict[str, str] = {}
            for relative, content in _static_files():
                _place(new, old, relative, content, result)
            queue = deque((relative, url, None) for relative, url in _pages(meetings_to_publish(slugs)))
            queued = {url for _relative, url, _index in queue}
            while queue:
                relative, url, index_url = queue.popleft()
                index_url = url if _FACULTY_PAGE.match(url) else index_url
                content = _fetch(client, url, relative, new, old, etags, manifest, result)
                if index_url is not None:  # an all-faculty page: publish the letters it links to
                    for link in _letter_pages(url, content(), index_url):
                        if link not in queued:
                            queued.add(link)
                            queue.append((f"{link.lstrip('/')}.html", link, index_url))
            (new / MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
            if old is not None:
                kept = set(result.files)
                kept.add(MANIFEST)
                result.removed = sum(
                    1 for path in old.rglob("*")
                    if path.is_file() and path.relative_to(old).as_posix() not in kept)
            if old is not None and not result.changed:
                shutil.rmtree(new)
                return result
            new.chmod(0o755)
            link = root.parent / f".{root.name}.link-{os.getpid()}"
            link.unlink(missing_ok=True)
            link.symlink_to(new.relative_to(root.parent))
            os.replace(link, root)  # the one atomic step
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        if old is not None and old != new:
            shutil.rmtree(old, ignore_errors=True)
    return result


def _fetch(client, url: str, relative: str, new: Path, old: Path | None, etags: dict[str, str],
           manifest: dict[str, str], result: PublishResult) -> Callable[[], bytes]:
    """Publish ``url`` as ``relative`` in ``new``: hard-linked from ``old`` when the app says it
    did not change (304 to the ETag published last time), else written. Returns a reader of
    the published bytes."""
    known = etags.get(relative)
    headers = {"If-None-Match": f'"{known}"'} if known else {}
    response = client.get(url, headers=headers)
    if response.status_code == 304 and _keep(new, old, relative, result):
        manifest[relative] = known
        return (new / relative).read_bytes
    if response.status_code == 304:  # the file went missing: fetch it whole
        response = client.get(url)
    if response.status_code != 200:
        raise PublishError(f"{url} answered {response.status_code}; nothing published.")
    etag, _weak = response.get_etag()
    if etag:
        manifest[relative] = etag
    _place(new, old, relative, response.get_data(), result)
    return response.get_data


def _read_manifest(old: Path | None) -> dict[str, str]:
    """ETags of the files in the published version: pages that still match are not rebuilt."""
    if old is None:
        return {}
    try:
        return json.loads((old / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _keep(new: Path, old: Path | None, relative: str, result: PublishResult) -> bool:
    """Hard-link an unchanged file into the new version; False if it is missing."""
    previous = old / relative if old is not None else None
    if previous is None or not previous.is_file():
        return False
    target = new / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(previous, target)
    result.files.append(relative)
    result.unchanged += 1
    return True


# What differs between two builds of the same PDF: its creation time and file identifier.
_PDF_STAMPS = re.compile(rb"/(?:CreationDate|ModDate) \(D:[^)]*\)|/ID\s*\[\s*<[0-9a-fA-F]*>\s*<[0-9a-fA-F]*>\s*\]")


def _same_document(before: bytes, after: bytes) -> bool:
    """Equal bytes, or PDFs that differ only in their build time stamps (same for a reader)."""
    if before == after:
        return True
    if not (before.startswith(b"%PDF") and after.startswith(b"%PDF")):
        return False
    return _PDF_STAMPS.sub(b"", before) == _PDF_STAMPS.sub(b"", after)


def _place(new: Path, old: Path | None, relative: str, content: bytes,
           result: PublishResult) -> None:
    target = new / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    result.files.append(relative)
    previous = old / relative if old is not None else None
    if previous is not None and previous.is_file() and previous.stat().st_size == len(content) \
            and _same_document(previous.read_bytes(), content):
        os.link(previous, target)  # same inode: same mtime, same ETag for nginx
        result.unchanged += 1
        return
    target.write_bytes(content)
    target.chmod(0o644)
    result.written += 1


# --- nginx -----------------------------------------------------------------------------------

_SECURITY_HEADERS = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cache-Control", "public, no-cache"),
]


def nginx_snippet(root: Path | str, upstream: str = "127.0.0.1:8000") -> str:
    """The nginx configuration (inside ``http {}``) serving ``root`` and falling back to the app.

    Plain GETs of public sheets and letter pages come from the files; anything with a query
    string (``?size=a4``, searches), any unknown path and every other page go to the app.
    """
    headers = "\n".join(f'        add_header {name} "{value}" always;'
                        for name, value in _SECURITY_HEADERS)
    return f"""\
upstream disclosures_app {{
    server {upstream};
    keepalive 16;
}}
# Only URLs without a query string are served from the published files.
map $args $disclosures_static {{
    ""      {Path(root).absolute()};
    default /nonexistent;
}}
server {{
    listen 127.0.0.1:8080;   # production: listen 443 ssl; server_name ...; certificates
    # Conference Wi-Fi: a letter page of the all-faculty list at 2,000 faculty is up to ~165 KB
    # of HTML, ~12 KB gzipped. PDFs are compressed already. App responses (searches, staff
    # pages) are compressed too.
    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 5;
    gzip_min_length 1024;
    gzip_types text/css application/javascript image/svg+xml application/json text/csv;
    # Pages: /r/<token>, /disclosures, /m/<slug>/disclosures and their letter pages
    # (/disclosures/k, /disclosures/k/2) are files named <path>.html.
    location ~ ^/(r/[A-Za-z0-9_-]+|(m/[a-z0-9-]+/)?disclosures(/[a-z]+(/[0-9]+)?)?)$ {{
        root $disclosures_static;
        try_files $uri.html @app;
        types {{ text/html html; }}
        default_type text/html;
        charset utf-8;
        etag on;
{headers}
    }}
    # Their PDFs, and the CSS, scripts and icons the pages use.
    location ~ ^/(r/[A-Za-z0-9_-]+\\.pdf|disclosures\\.pdf|m/[a-z0-9-]+/disclosures\\.pdf|static/.*)$ {{
        root $disclosures_static;
        try_files $uri @app;
        types {{ application/pdf pdf; text/css css; application/javascript js; image/svg+xml svg; }}
        default_type application/octet-stream;
        etag on;
{headers}
    }}
    location @app {{
        proxy_pass http://disclosures_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
    location / {{
        proxy_pass http://disclosures_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}
"""


def nginx_bench_config(root: Path, plain_root: Path, port: int, upstream: str,
                       state_dir: Path) -> str:
    """A whole nginx.conf for ``make bench``: the snippet on ``port``, plus ``/plain.html``."""
    snippet = nginx_snippet(root, upstream).replace("listen 127.0.0.1:8080;",
                                                   f"listen 127.0.0.1:{port};")
    snippet = snippet.replace(
        "    location @app {",
        f"    location = /plain.html {{\n        root {plain_root};\n        default_type text/html;\n"
        + "\n".join(f'        add_header {n} "{v}" always;' for n, v in _SECURITY_HEADERS)
        + "\n    }\n    location @app {", 1)
    return f"""\
worker_processes 2;
pid {state_dir}/nginx.pid;
error_log {state_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {state_dir}/body;
    proxy_temp_path {state_dir}/proxy;
    fastcgi_temp_path {state_dir}/fastcgi;
    uwsgi_temp_path {state_dir}/uwsgi;
    scgi_temp_path {state_dir}/scgi;
{snippet}
}}
"""


@click.command("publish-static")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--meeting", "slugs", multiple=True, metavar="SLUG",
              help="Publish only this meeting (repeatable). Default: every meeting not over yet.")
@click.option("--print-nginx", is_flag=True, help="Print the nginx snippet for DIRECTORY and stop.")
@click.option("--upstream", default="127.0.0.1:8000", show_default=True,
              help="Where nginx reaches the app (with --print-nginx).")
def publish_static_command(directory: Path, slugs: tuple[str, ...], print_nginx: bool,
                           upstream: str):
    """Write every public sheet (HTML, PDF, booklet) under DIRECTORY for nginx, atomically."""
    if print_nginx:
        click.echo(nginx_snippet(directory, upstream), nl=False)
        return
    started = time.perf_counter()
    try:
        result = publish_static(directory, slugs)
    except PublishError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.session.rollback()  # the command only reads
    click.echo(
        f"{result.root}: {result.written} written, {result.unchanged} unchanged, "
        f"{result.removed} removed in {time.perf_counter() - started:.1f} s"
        + ("" if result.changed else " (nothing changed; the published tree was left as it was)")
    )
