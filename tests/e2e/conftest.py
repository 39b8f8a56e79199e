"""End-to-end fixtures: the app served by gunicorn on 127.0.0.1, and Debian's Chromium
driven by Playwright. Run with `make e2e` (it installs what is needed)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
ARTIFACTS = HERE / "artifacts"
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STAFF_PASSWORD = "staff password for e2e"  # noqa: S105  (throw-away test database)
REVIEWER_PASSWORD = "reviewer password for e2e"  # noqa: S105
PHONE = {"width": 390, "height": 844}
AXE_SUMMARY: list[dict] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of a fresh app (empty SQLite database, two accounts) under gunicorn."""
    instance = tmp_path_factory.mktemp("e2e-instance")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DISCLOSURES_INSTANCE": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'e2e.sqlite'}",
        "PUBLIC_BASE_URL": base,
        "MAIL_SUPPRESS_SEND": "1",
        "DISCLOSURES_CONFIG": "development",
    }
    bin_dir = Path(sys.executable).parent
    flask = [str(bin_dir / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=PROJECT, env=env, check=True, capture_output=True)
    # A site administrator (creates the meeting) and a person who becomes its reviewer.
    for email, name, extra, password in (
        ("staff@e2e.example.org", "Sam Staff", ["--site-role", "admin"], STAFF_PASSWORD),
        ("reviewer@e2e.example.org", "Rita Reviewer", [], REVIEWER_PASSWORD),
    ):
        subprocess.run(
            [*flask, "create-user", email, "--name", name, *extra, "--password", password],
            cwd=PROJECT, env=env, check=True, capture_output=True,
        )
    log = open(instance / "gunicorn.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError(f"the server did not start: {(instance / 'gunicorn.log').read_text()}")
        time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make e2e`, which installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Step:
    """Screenshots and accessibility checks for each step of a walk."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.count = 0

    def __call__(self, page, name: str, *, axe: bool = True) -> None:
        self.count += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{self.count:02d}-{name}.png"), full_page=True)
        if axe:
            check_accessibility(page, f"{self.prefix}-{self.count:02d}-{name}")


def check_accessibility(page, label: str) -> None:
    """Run axe-core on the page; fail on any serious or critical violation."""
    if not AXE_JS.exists():
        pytest.fail("axe-core is missing: run `make e2e` (npm install in tests/e2e)")
    page.evaluate(AXE_JS.read_text())  # evaluate is not subject to the page's CSP
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    AXE_SUMMARY.append({"page": label, "url": page.url, "serious_or_critical": len(bad),
                        "all": len(result["violations"])})
    details = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}" for v in bad
    ]
    assert not bad, f"axe found serious/critical violations on {label}:\n" + "\n".join(details)


@pytest.fixture()
def step(request):
    return Step(request.node.name.removeprefix("test_"))


@pytest.fixture()
def console_errors():
    """Collects script errors and refusals (CSP, mixed content) of pages passed to ``watch``.
    HTTP error statuses of documents are expected in some steps and checked by the tests."""
    errors: list[str] = []

    def on_console(msg):
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            errors.append(msg.text)

    def on_response(response):
        if response.request.resource_type != "document" and response.status >= 400:
            errors.append(f"{response.status} for {response.url}")

    def watch(page):
        page.on("console", on_console)
        page.on("response", on_response)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    watch.errors = errors
    return watch


def pytest_sessionfinish(session, exitstatus):
    if AXE_SUMMARY:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "axe-summary.json").write_text(json.dumps(AXE_SUMMARY, indent=2))
        total = sum(item["serious_or_critical"] for item in AXE_SUMMARY)
        print(f"\naxe: {len(AXE_SUMMARY)} pages checked, {total} serious/critical violations")


def pytest_configure(config):
    if shutil.which("npm") is None and not AXE_JS.exists():
        print("warning: npm not found; axe-core cannot be installed")
