"""Roles held per meeting: ``membership`` rows and a site-wide role, instead of one rank.

Until now an account had one global rank (faculty < reviewer < staff). Now:

- ``membership`` (user, meeting, role): what a person may do in one meeting (staff,
  reviewer), granted and (later) revoked by whom and when; revoked ones stay on record.
  One current holding per (user, meeting, role).
- ``user_account.site_role``: administrator or auditor across the site, or none.

Nobody loses access: a staff account becomes a site administrator and staff of every
existing meeting; a reviewer becomes a reviewer of every existing meeting. The
downgrade gives back the rank: staff for administrators and meeting staff, reviewer
for reviewers, faculty for everyone else (an auditor becomes faculty: the old schema
had no read-only role).

The statements are written out here so this migration never changes.

Revision ID: 0005
Revises: 0004e
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004e"
branch_labels = None
depends_on = None

MEETING_ROLES = ("staff", "reviewer")
SITE_ROLES = ("admin", "auditor")
OLD_ROLES = ("faculty", "reviewer", "staff")


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade():
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("role", _enum(MEETING_ROLES, "meeting_role"), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_membership_user_id_user_account")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"],
                                name=op.f("fk_membership_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["granted_by_id"], ["user_account.id"],
                                name=op.f("fk_membership_granted_by_id_user_account")),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["user_account.id"],
                                name=op.f("fk_membership_revoked_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
    )
    op.create_index(op.f("ix_membership_user_id"), "membership", ["user_id"], unique=False)
    op.create_index(op.f("ix_membership_meeting_id"), "membership", ["meeting_id"], unique=False)
    # One current holding of each role per person and meeting; revoked ones stay on record.
    op.create_index("uq_membership_current", "membership", ["user_id", "meeting_id", "role"],
                    unique=True, sqlite_where=sa.text("revoked_at IS NULL"),
                    postgresql_where=sa.text("revoked_at IS NULL"))

    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("site_role", _enum(SITE_ROLES, "site_role"), nullable=True))

    for old, new in (("staff", "staff"), ("reviewer", "reviewer")):
        op.execute(
            sa.text(
                "INSERT INTO membership (user_id, meeting_id, role, granted_at) "
                "SELECT u.id, m.id, :new, CURRENT_TIMESTAMP FROM user_account u CROSS JOIN meeting m "
                "WHERE u.role = :old"
            ).bindparams(old=old, new=new)
        )
    op.execute("UPDATE user_account SET site_role = 'admin' WHERE role = 'staff'")

    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint(op.f("ck_user_account_role"), type_="check")
        batch.drop_column("role")


def downgrade():
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("role", sa.String(length=32), nullable=True))
    op.execute("UPDATE user_account SET role = 'faculty'")
    op.execute(
        "UPDATE user_account SET role = 'reviewer' WHERE id IN "
        "(SELECT user_id FROM membership WHERE role = 'reviewer' AND revoked_at IS NULL)"
    )
    op.execute(
        "UPDATE user_account SET role = 'staff' WHERE site_role = 'admin' OR id IN "
        "(SELECT user_id FROM membership WHERE role = 'staff' AND revoked_at IS NULL)"
    )
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column("role", existing_type=sa.String(length=32), nullable=False)
        batch.create_check_constraint(
            op.f("ck_user_account_role"), "role IN ('faculty', 'reviewer', 'staff')"
        )
        batch.drop_constraint(op.f("ck_user_account_site_role"), type_="check")
        batch.drop_column("site_role")

    op.drop_index("uq_membership_current", table_name="membership")
    op.drop_index(op.f("ix_membership_meeting_id"), table_name="membership")
    op.drop_index(op.f("ix_membership_user_id"), table_name="membership")
    op.drop_table("membership")
