"""Command-line tools: ``flask --app wsgi <command>``."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from .enums import MeetingRole, SiteRole
from .extensions import db
from .models import Meeting, User, normalise_email


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(grant_role_command)
    app.cli.add_command(demo_data)
    app.cli.add_command(backup_command)
    from .public.publish import publish_static_command

    app.cli.add_command(publish_static_command)


def meeting_by_slug(slug: str) -> Meeting:
    """The meeting with this short name, or a ClickException naming the known ones."""
    from .staff.operations import ProgrammeError, find_meeting

    try:
        return find_meeting(slug)
    except ProgrammeError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("create-user")
@click.argument("email")
@click.option("--name", "full_name", required=True, help="Full name as it appears on sheets.")
@click.option(
    "--site-role",
    type=click.Choice([r.value for r in SiteRole]),
    default=None,
    help="admin: may do everything (the first account must be one); auditor: reads every "
    "meeting's records and the audit log. Roles in a meeting are given on its Access page.",
)
@click.option("--degrees", default=None)
@click.option("--institution", default=None)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given (recommended: keeps it out of shell history).",
)
def create_user(email, full_name, site_role, degrees, institution, password):
    """Create an account with a password (staff and reviewers, or faculty without invitation)."""
    from .audit import record

    if len(password) < 10:
        raise click.BadParameter("use at least 10 characters", param_hint="--password")
    if db.session.scalar(sa.select(User).where(User.email == normalise_email(email))):
        raise click.ClickException(f"An account for {normalise_email(email)} already exists.")
    user = User(
        email=email, full_name=full_name, degrees=degrees, institution=institution,
        site_role=SiteRole(site_role) if site_role else None,
    )
    user.set_password(password)
    db.session.add(user)
    record(None, "user.created", user, {"email": user.email, "site_role": user.site_role},
           subject=user)
    db.session.commit()
    kind = user.site_role.label.lower() if user.site_role else "an"
    click.echo(f"Created {kind} account {user.email}.")


@click.command("grant-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in MeetingRole]))
@click.option("--meeting", "meeting_slug", default=None,
              help="The meeting's short name (default: the only meeting, if there is one).")
def grant_role_command(email: str, role: str, meeting_slug: str | None):
    """Give the account EMAIL the ROLE (staff, reviewer) in a meeting; audited."""
    from .staff.operations import ProgrammeError, grant_role

    person = db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if person is None:
        raise click.ClickException(f"No account uses {normalise_email(email)}: create it first.")
    if meeting_slug is None:
        meetings = db.session.scalars(sa.select(Meeting).limit(2)).all()
        if len(meetings) != 1:
            raise click.ClickException("Name the meeting with --meeting SLUG.")
        meeting = meetings[0]
    else:
        meeting = meeting_by_slug(meeting_slug)
    try:
        grant_role(None, meeting, person, MeetingRole(role))
    except ProgrammeError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"{person.email} is now {MeetingRole(role).label.lower()} of {meeting.slug}.")


def _logins_file() -> Path:
    return Path(current_app.instance_path) / "demo-logins.txt"


@click.command("demo-data")
@click.option("--if-empty", is_flag=True, help="Do nothing when a meeting already exists.")
@click.option("--password", default=None, help="Password for every demo account (default: random).")
@click.option(
    "--size",
    type=click.Choice(["demo", "large"]),
    default="demo",
    show_default=True,
    help="demo: 40 sessions, 80 faculty. large: 600 sessions in 120 rooms, 2,000 faculty, "
    "10,000 relationships (for load tests and `make bench`).",
)
def demo_data(if_empty: bool, password: str | None, size: str):
    """Load the demo meeting (a spine society's four-day annual meeting) and print its logins."""
    from .demo import load_demo_meeting
    from .largedemo import load_large_meeting

    if current_app.config.get("NAME") == "production":
        raise click.ClickException("Refusing to load demo data under ProductionConfig.")
    if db.session.scalar(sa.select(sa.func.count(Meeting.id))):
        if if_empty:
            path = _logins_file()
            if path.exists():
                click.echo(path.read_text(), nl=False)
            else:
                click.echo("The database already has a meeting; demo data not loaded.")
            return
        raise click.ClickException("The database already has a meeting; demo data not loaded.")
    if db.session.scalar(sa.select(User.id).where(User.email == "staff@example.org")):
        raise click.ClickException("Demo accounts already exist; demo data not loaded.")
    loader = load_large_meeting if size == "large" else load_demo_meeting
    logins = loader(password=password)
    db.session.commit()
    text = (
        f"Demo logins (password for each: {logins.password})\n"
        f"  staff     {logins.staff}\n  reviewer  {logins.reviewer}\n  faculty   {logins.faculty}\n"
    )
    path = _logins_file()
    path.write_text(text)
    path.chmod(0o600)
    click.echo(text, nl=False)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path):
    """Back up the database to PATH (SQLite: online backup; PostgreSQL: prints the pg_dump command)."""
    from .backup import BackupError, backup

    try:
        click.echo(backup(current_app.config["SQLALCHEMY_DATABASE_URI"], path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
