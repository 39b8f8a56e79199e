"""Command-line tools: ``flask --app wsgi <command>``."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from .enums import Role
from .extensions import db
from .models import Meeting, User, normalise_email


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(demo_data)
    app.cli.add_command(backup_command)
    from .public.publish import publish_static_command

    app.cli.add_command(publish_static_command)
    from .staff.commands import register_staff_commands

    register_staff_commands(app)


@click.command("create-user")
@click.argument("email")
@click.option("--name", "full_name", required=True, help="Full name as it appears on sheets.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.FACULTY.value,
    show_default=True,
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
def create_user(email, full_name, role, degrees, institution, password):
    """Create an account with a password (staff and reviewers, or faculty without invitation)."""
    from .audit import record

    if len(password) < 10:
        raise click.BadParameter("use at least 10 characters", param_hint="--password")
    if db.session.scalar(sa.select(User).where(User.email == normalise_email(email))):
        raise click.ClickException(f"An account for {normalise_email(email)} already exists.")
    user = User(
        email=email, full_name=full_name, role=Role(role), degrees=degrees, institution=institution
    )
    user.set_password(password)
    db.session.add(user)
    record(None, "user.created", user, {"email": user.email, "role": user.role}, subject=user)
    db.session.commit()
    click.echo(f"Created {user.role.label.lower()} account {user.email}.")


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
