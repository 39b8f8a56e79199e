"""A backup can be restored and holds every disclosure."""

import pytest
import sqlalchemy as sa

from disclosures.enums import Nature
from disclosures.extensions import db
from disclosures.models import Disclosure, Relationship

from . import factories


def test_backup_restores_every_disclosure(app, tmp_path, database):
    people = [factories.user(full_name=f"Backed Up {i}") for i in range(3)]
    company = factories.company("Keystone Surgical Devices")
    for person in people:
        factories.disclosure(person, [(company, Nature.CONSULTANT)])
    db.session.commit()
    target = tmp_path / "backup.sqlite"
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    if database["schema"] is not None:
        assert "pg_dump --format=custom" in result.output
        assert "password" not in result.output.lower() or "PGPASSWORD" in result.output
        return
    assert "Backed up" in result.output
    restored = sa.create_engine(f"sqlite:///{target}")
    with restored.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT u.full_name, c.name FROM disclosure d JOIN user_account u ON u.id = d.user_id "
                "JOIN relationship r ON r.disclosure_id = d.id JOIN company c ON c.id = r.company_id "
                "ORDER BY u.full_name"
            )
        ).all()
    restored.dispose()
    assert names == [(f"Backed Up {i}", "Keystone Surgical Devices") for i in range(3)]
    assert db.session.scalar(sa.select(sa.func.count(Disclosure.id))) == 3
    assert db.session.scalar(sa.select(sa.func.count(Relationship.id))) == 3


def test_backup_refuses_to_overwrite(app, tmp_path, database):
    if database["schema"] is not None:
        pytest.skip("SQLite online backup only")
    target = tmp_path / "exists.sqlite"
    target.write_text("keep me")
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert target.read_text() == "keep me"


def test_pg_dump_command_has_no_password():
    from pathlib import Path

    from disclosures.backup import pg_dump_command

    command = pg_dump_command("postgresql+psycopg://cme:s3cret@db.internal:5433/cme", Path("/b/x.dump"))
    assert "s3cret" not in command
    assert "--host=db.internal" in command and "--port=5433" in command and command.endswith(" cme")
