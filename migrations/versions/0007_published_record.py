"""The published record: roles judged at their start and stored, decisions and statements
appended, sheets versioned, PDFs kept in the database.

- ``assignment``: ``state`` (indexed), ``state_reasons``, ``state_changed_at``,
  ``state_disclosure_id`` (the version in force at the start), ``is_late``,
  ``statement_id``. The owner/employee columns move to ``owner_decision``, one decision
  per person and company: each assignment's decision becomes one for every ineligible
  company the person disclosed as employer or ownership in their latest version (the
  latest such decision per person and company is kept).
- ``determination``: a changed decision is a new row (``supersedes_id``, unique); the one
  first decision per pair is a partial unique index; ``version_id`` goes (rows are never
  updated). ``mitigation.version_id`` goes too.
- ``statement``, ``sheet_version``, ``sheet_pdf``, ``publication_step``: the published
  record; ``meeting.publication_seq``.
- The record tables (determination, mitigation, owner_decision, statement, sheet_version,
  sheet_pdf, publication_step) refuse UPDATE and DELETE in the database too (triggers).

After upgrading an existing database, run ``flask --app wsgi refresh-record`` once: it
judges every role and publishes every sheet (``make run`` does it). Nothing is lost by
the downgrade but the published record itself and the history of changed decisions
(only each pair's decision in force is kept).

The statements are written out here so this migration never changes.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATES = ("awaiting_disclosure", "awaiting_review", "needs_mitigation", "cleared",
          "awaiting_owner_decision", "excluded")
EXCEPTIONS = ("unrelated", "basic_science", "device_training", "none")
KINDS = ("relevant", "none", "review", "awaiting")
RECORD_TABLES = ("determination", "mitigation", "owner_decision", "statement", "sheet_version",
                 "sheet_pdf", "publication_step")
PG_FUNCTION = ("CREATE OR REPLACE FUNCTION record_append_only() RETURNS trigger LANGUAGE plpgsql "
               "AS $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _triggers(table, dialect):
    message = f"{table} is append-only"
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"]
    return [f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION record_append_only()"]


def _drop_triggers(table, dialect):
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "owner_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("exception", _enum(EXCEPTIONS, "owner_exception"), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("length(note) <= 4000", name=op.f("ck_owner_decision_note_length")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_owner_decision_user_id_user_account")),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"], name=op.f("fk_owner_decision_company_id_company")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"], name=op.f("fk_owner_decision_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["owner_decision.id"], name=op.f("fk_owner_decision_supersedes_id_owner_decision")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_decision")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_owner_decision_supersedes_id")),
    )
    op.create_index(op.f("ix_owner_decision_user_id"), "owner_decision", ["user_id"])
    op.create_index(op.f("ix_owner_decision_company_id"), "owner_decision", ["company_id"])
    op.create_index("uq_owner_decision_first", "owner_decision", ["user_id", "company_id"], unique=True,
                    sqlite_where=sa.text("supersedes_id IS NULL"),
                    postgresql_where=sa.text("supersedes_id IS NULL"))

    # Each assignment's decision → one per person and owned/employing ineligible company.
    op.execute("""
        INSERT INTO owner_decision (user_id, company_id, exception, note, decided_by_id, decided_at)
        SELECT a.user_id, r.company_id, a.owner_exception,
               COALESCE(a.owner_decision_note, 'Recorded before decisions were made per company.'),
               a.owner_decided_by_id, COALESCE(a.owner_decided_at, a.created_at)
        FROM assignment a
        JOIN disclosure d ON d.user_id = a.user_id
             AND NOT EXISTS (SELECT 1 FROM disclosure n WHERE n.user_id = d.user_id AND n.version > d.version)
        JOIN relationship r ON r.disclosure_id = d.id AND r.nature IN ('employee', 'ownership', 'executive')
        JOIN company c ON c.id = r.company_id AND c.is_ineligible
        WHERE a.owner_exception IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM assignment b
              WHERE b.user_id = a.user_id AND b.owner_exception IS NOT NULL
                AND (COALESCE(b.owner_decided_at, b.created_at) > COALESCE(a.owner_decided_at, a.created_at)
                     OR (COALESCE(b.owner_decided_at, b.created_at) = COALESCE(a.owner_decided_at, a.created_at)
                         AND b.id > a.id)))
        GROUP BY a.user_id, r.company_id, a.owner_exception, a.owner_decision_note,
                 a.owner_decided_by_id, a.owner_decided_at, a.created_at
    """)

    op.create_table(
        "statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", _enum(KINDS, "statement_kind"), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("length(words) <= 20000", name=op.f("ck_statement_words_length")),
        sa.CheckConstraint("length(sha256) <= 64", name=op.f("ck_statement_sha256_length")),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"], name=op.f("fk_statement_assignment_id_assignment")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_statement_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["statement.id"], name=op.f("fk_statement_supersedes_id_statement")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement")),
        sa.UniqueConstraint("assignment_id", "version", name=op.f("uq_statement_assignment_id_version")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_statement_supersedes_id")),
    )
    op.create_index(op.f("ix_statement_assignment_id"), "statement", ["assignment_id"])
    op.create_index(op.f("ix_statement_meeting_id"), "statement", ["meeting_id"])
    op.create_index(op.f("ix_statement_valid_from"), "statement", ["valid_from"])

    op.create_table(
        "sheet_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(content_sha256) <= 64", name=op.f("ck_sheet_version_content_sha256_length")),
        sa.CheckConstraint("length(fingerprint) <= 64", name=op.f("ck_sheet_version_fingerprint_length")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_sheet_version_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name=op.f("fk_sheet_version_room_id_room")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sheet_version")),
        sa.UniqueConstraint("room_id", "number", name=op.f("uq_sheet_version_room_id_number")),
    )
    op.create_index(op.f("ix_sheet_version_meeting_id"), "sheet_version", ["meeting_id"])
    op.create_index("ix_sheet_version_room_valid_from", "sheet_version", ["room_id", "valid_from"])

    op.create_table(
        "sheet_pdf",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("sheet_version_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("size", sa.String(length=8), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(size) <= 8", name=op.f("ck_sheet_pdf_size_length")),
        sa.CheckConstraint("length(sha256) <= 64", name=op.f("ck_sheet_pdf_sha256_length")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_sheet_pdf_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["sheet_version_id"], ["sheet_version.id"], name=op.f("fk_sheet_pdf_sheet_version_id_sheet_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sheet_pdf")),
    )
    op.create_index(op.f("ix_sheet_pdf_meeting_id"), "sheet_pdf", ["meeting_id"])
    op.create_index(op.f("ix_sheet_pdf_sha256"), "sheet_pdf", ["sha256"])
    op.create_index("uq_sheet_pdf_room", "sheet_pdf", ["sheet_version_id", "size"], unique=True,
                    sqlite_where=sa.text("sheet_version_id IS NOT NULL"),
                    postgresql_where=sa.text("sheet_version_id IS NOT NULL"))
    op.create_index("uq_sheet_pdf_booklet", "sheet_pdf", ["meeting_id", "seq", "size"], unique=True,
                    sqlite_where=sa.text("sheet_version_id IS NULL"),
                    postgresql_where=sa.text("sheet_version_id IS NULL"))

    op.create_table(
        "publication_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"], name=op.f("fk_publication_step_meeting_id_meeting")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_step")),
        sa.UniqueConstraint("meeting_id", "seq", name=op.f("uq_publication_step_meeting_id_seq")),
    )

    with op.batch_alter_table("meeting") as batch:
        batch.add_column(sa.Column("publication_seq", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("meeting") as batch:
        batch.alter_column("publication_seq", server_default=None)

    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("state", _enum(STATES, "assignment_state"), nullable=False,
                                   server_default="awaiting_disclosure"))
        batch.add_column(sa.Column("state_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("state_changed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("state_disclosure_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("is_late", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("statement_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_assignment_state_disclosure_id_disclosure"), "disclosure",
                                 ["state_disclosure_id"], ["id"])
        batch.create_foreign_key("fk_assignment_statement_id_statement", "statement",
                                 ["statement_id"], ["id"])
        batch.create_index(op.f("ix_assignment_state"), ["state"])
        batch.drop_constraint(op.f("ck_assignment_owner_decision_note_length"), type_="check")
        batch.drop_constraint(op.f("ck_assignment_owner_exception"), type_="check")
        batch.drop_column("owner_exception")
        batch.drop_column("owner_decision_note")
        batch.drop_column("owner_decided_by_id")
        batch.drop_column("owner_decided_at")
    op.execute("UPDATE assignment SET state_reasons = '[]', state_changed_at = created_at")
    with op.batch_alter_table("assignment") as batch:
        batch.alter_column("state_reasons", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("state_changed_at", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("state", existing_type=sa.String(32), server_default=None)
        batch.alter_column("is_late", existing_type=sa.Boolean(), server_default=None)

    with op.batch_alter_table("determination") as batch:
        batch.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_determination_supersedes_id_determination"), "determination",
                                 ["supersedes_id"], ["id"])
        batch.create_unique_constraint(op.f("uq_determination_supersedes_id"), ["supersedes_id"])
        batch.drop_constraint(op.f("uq_determination_relationship_id_assignment_id"), type_="unique")
        batch.drop_column("version_id")
    op.create_index("uq_determination_first", "determination", ["relationship_id", "assignment_id"],
                    unique=True, sqlite_where=sa.text("supersedes_id IS NULL"),
                    postgresql_where=sa.text("supersedes_id IS NULL"))
    with op.batch_alter_table("mitigation") as batch:
        batch.drop_column("version_id")

    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
    for table in RECORD_TABLES:
        for statement in _triggers(table, dialect):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in RECORD_TABLES:
        for statement in _drop_triggers(table, dialect):
            op.execute(statement)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS record_append_only()")

    with op.batch_alter_table("mitigation") as batch:
        batch.add_column(sa.Column("version_id", sa.Integer(), nullable=False, server_default="1"))
    # Keep each pair's decision in force; drop the decisions it superseded (and their mitigations).
    op.execute("DELETE FROM mitigation WHERE determination_id IN "
               "(SELECT supersedes_id FROM determination WHERE supersedes_id IS NOT NULL)")
    op.execute("UPDATE determination SET supersedes_id = NULL")  # so the rows can go
    op.execute("DELETE FROM determination WHERE id NOT IN (SELECT d.id FROM determination d "
               "WHERE NOT EXISTS (SELECT 1 FROM determination n WHERE n.relationship_id = d.relationship_id "
               "AND n.assignment_id = d.assignment_id AND (n.decided_at > d.decided_at "
               "OR (n.decided_at = d.decided_at AND n.id > d.id))))")
    op.drop_index("uq_determination_first", table_name="determination")
    with op.batch_alter_table("determination") as batch:
        batch.add_column(sa.Column("version_id", sa.Integer(), nullable=False, server_default="1"))
        batch.drop_constraint(op.f("uq_determination_supersedes_id"), type_="unique")
        batch.drop_constraint(op.f("fk_determination_supersedes_id_determination"), type_="foreignkey")
        batch.drop_column("supersedes_id")
        batch.create_unique_constraint(op.f("uq_determination_relationship_id_assignment_id"),
                                       ["relationship_id", "assignment_id"])

    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("owner_exception", _enum(EXCEPTIONS, "owner_exception"), nullable=True))
        batch.add_column(sa.Column("owner_decision_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("owner_decided_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner_decided_at", sa.DateTime(), nullable=True))
        batch.create_check_constraint(op.f("ck_assignment_owner_decision_note_length"),
                                      "length(owner_decision_note) <= 4000")
    # The latest decision about any company the person owns becomes each role's decision.
    op.execute("""
        UPDATE assignment SET
            owner_exception = (SELECT o.exception FROM owner_decision o WHERE o.user_id = assignment.user_id
                               ORDER BY o.decided_at DESC, o.id DESC LIMIT 1),
            owner_decision_note = (SELECT o.note FROM owner_decision o WHERE o.user_id = assignment.user_id
                                   ORDER BY o.decided_at DESC, o.id DESC LIMIT 1),
            owner_decided_by_id = (SELECT o.decided_by_id FROM owner_decision o WHERE o.user_id = assignment.user_id
                                   ORDER BY o.decided_at DESC, o.id DESC LIMIT 1),
            owner_decided_at = (SELECT o.decided_at FROM owner_decision o WHERE o.user_id = assignment.user_id
                                ORDER BY o.decided_at DESC, o.id DESC LIMIT 1)
    """)
    with op.batch_alter_table("assignment") as batch:
        batch.drop_index(op.f("ix_assignment_state"))
        batch.drop_constraint("fk_assignment_statement_id_statement", type_="foreignkey")
        batch.drop_constraint(op.f("fk_assignment_state_disclosure_id_disclosure"), type_="foreignkey")
        batch.drop_constraint(op.f("ck_assignment_assignment_state"), type_="check")
        batch.drop_column("statement_id")
        batch.drop_column("is_late")
        batch.drop_column("state_disclosure_id")
        batch.drop_column("state_changed_at")
        batch.drop_column("state_reasons")
        batch.drop_column("state")
    with op.batch_alter_table("meeting") as batch:
        batch.drop_column("publication_seq")

    op.drop_table("publication_step")
    op.drop_index("uq_sheet_pdf_booklet", table_name="sheet_pdf")
    op.drop_index("uq_sheet_pdf_room", table_name="sheet_pdf")
    op.drop_index(op.f("ix_sheet_pdf_sha256"), table_name="sheet_pdf")
    op.drop_index(op.f("ix_sheet_pdf_meeting_id"), table_name="sheet_pdf")
    op.drop_table("sheet_pdf")
    op.drop_index("ix_sheet_version_room_valid_from", table_name="sheet_version")
    op.drop_index(op.f("ix_sheet_version_meeting_id"), table_name="sheet_version")
    op.drop_table("sheet_version")
    op.drop_index(op.f("ix_statement_valid_from"), table_name="statement")
    op.drop_index(op.f("ix_statement_meeting_id"), table_name="statement")
    op.drop_index(op.f("ix_statement_assignment_id"), table_name="statement")
    op.drop_table("statement")
    op.drop_index("uq_owner_decision_first", table_name="owner_decision")
    op.drop_index(op.f("ix_owner_decision_company_id"), table_name="owner_decision")
    op.drop_index(op.f("ix_owner_decision_user_id"), table_name="owner_decision")
    op.drop_table("owner_decision")
