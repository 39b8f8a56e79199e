"""Pages anyone can reach, checked in a real browser at phone size."""

from .conftest import PHONE


def test_login_page_on_a_phone(live_server, browser, step, console_errors):
    context = browser.new_context(viewport=PHONE)
    page = console_errors(context.new_page())
    page.goto(f"{live_server}/login")
    assert page.get_by_role("heading", name="Log in").is_visible()
    # Labels are tied to their fields.
    assert page.get_by_label("Email").is_visible()
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    error = page.get_by_role("alert")
    assert "do not match an active account" in error.inner_text()
    step(page, "login-error")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert console_errors.errors == []
    context.close()
