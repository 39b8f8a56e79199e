"""Off-label use per presentation, commercial support from the company registry, and
non-accredited activities.

- ``assignment.discusses_off_label``, ``assignment.off_label_detail``: declared per role
  (per presentation). Each person's declaration on their latest disclosure version is
  copied to every one of their roles; ``disclosure.discusses_off_label`` and
  ``disclosure.off_label_detail`` are dropped (the statements already published keep the
  words that were printed).
- ``commercial_support``: a company of the registry supporting one activity (or, with no
  activity, the whole meeting), monetary or in kind (what was given). Each name in
  ``activity.commercial_supporters`` (JSON) becomes a row, matched to a company by its
  normalised name or an alias, or a new (eligible-unknown, ineligible by default) company
  named as staff typed it; the JSON column is dropped.
- ``activity.is_accredited`` (default true): industry sessions and meals are false.

Downgrade puts the JSON names and the disclosure-level declarations back (a person's
latest disclosure says "off-label" when any of their roles does, with the first detail).

Revision ID: 0020c
Revises: 0016p
"""
import json
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0020c"
down_revision = "0020b"
branch_labels = None
depends_on = None

_SUFFIXES = {
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company",
    "plc", "gmbh", "ag", "sa", "nv", "bv", "lp", "llp", "holdings",
}


def _normalise(name: str) -> str:
    """A frozen copy of ``models.disclosure.normalise_company_name`` (as of this revision)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = text.lower().replace("&", " and ").replace("+", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    key = "".join(words)
    if not key:
        key = re.sub(r"\W+", "", name.casefold())
    return key[:200]


def _json(value):
    if value is None:
        return []
    if isinstance(value, str):
        return json.loads(value or "[]")
    return value


def upgrade():
    conn = op.get_bind()
    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("discusses_off_label", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("off_label_detail", sa.Text(), nullable=True))
        batch.create_check_constraint(op.f("ck_assignment_off_label_detail_length"),
                                      "length(off_label_detail) <= 2000")
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("is_accredited", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    op.create_table(
        "commercial_support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("monetary", "in_kind", name="support_kind", native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column("in_kind_detail", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind != 'in_kind' OR in_kind_detail IS NOT NULL",
                           name=op.f("ck_commercial_support_in_kind_says_what")),
        sa.CheckConstraint("length(in_kind_detail) <= 300",
                           name=op.f("ck_commercial_support_in_kind_detail_length")),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"],
                                name=op.f("fk_commercial_support_activity_id_activity")),
        sa.ForeignKeyConstraint(["company_id"], ["company.id"],
                                name=op.f("fk_commercial_support_company_id_company")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_commercial_support_created_by_id_user_account")),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"],
                                name=op.f("fk_commercial_support_meeting_id_meeting")),
        sa.ForeignKeyConstraint(["removed_by_id"], ["user_account.id"],
                                name=op.f("fk_commercial_support_removed_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commercial_support")),
    )
    with op.batch_alter_table("commercial_support") as batch:
        for column in ("activity_id", "company_id", "meeting_id"):
            batch.create_index(batch.f(f"ix_commercial_support_{column}"), [column], unique=False)

    # Off-label: each person's latest disclosure version, onto every one of their roles.
    latest = conn.execute(sa.text(
        "SELECT d.user_id, d.off_label_detail FROM disclosure d "
        "WHERE d.discusses_off_label AND d.version = "
        "(SELECT max(e.version) FROM disclosure e WHERE e.user_id = d.user_id)")).all()
    for user_id, detail in latest:
        conn.execute(sa.text("UPDATE assignment SET discusses_off_label = :yes, "
                             "off_label_detail = :detail WHERE user_id = :user"),
                     {"yes": True, "detail": detail, "user": user_id})

    # Commercial supporters: JSON names → registry rows.
    companies = {key: cid for cid, key in conn.execute(
        sa.text("SELECT id, normalized_name FROM company"))}
    for cid, key in conn.execute(sa.text("SELECT company_id, normalized_name FROM company_alias")):
        companies.setdefault(key, cid)
    now = conn.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar()
    for activity_id, meeting_id, raw in conn.execute(sa.text(
            "SELECT id, meeting_id, commercial_supporters FROM activity")).all():
        for item in _json(raw):
            name = " ".join(str((item or {}).get("name") or "").split())[:200]
            if not name:
                continue
            key = _normalise(name)
            if key not in companies:
                conn.execute(sa.text(
                    "INSERT INTO company (name, normalized_name, is_ineligible, needs_review, "
                    "created_at) VALUES (:name, :key, :yes, :no, :now)"),
                    {"name": name, "key": key, "yes": True, "no": False, "now": now})
                companies[key] = conn.execute(sa.text(
                    "SELECT id FROM company WHERE normalized_name = :key"), {"key": key}).scalar()
            in_kind = " ".join(str(item.get("in_kind") or "").split())[:300] or None
            conn.execute(sa.text(
                "INSERT INTO commercial_support (meeting_id, activity_id, company_id, kind, "
                "in_kind_detail, created_at) VALUES (:m, :a, :c, :k, :d, :now)"),
                {"m": meeting_id, "a": activity_id, "c": companies[key],
                 "k": "in_kind" if in_kind else "monetary", "d": in_kind, "now": now})

    with op.batch_alter_table("activity") as batch:
        batch.drop_column("commercial_supporters")
    with op.batch_alter_table("disclosure") as batch:
        batch.drop_constraint(op.f("ck_disclosure_off_label_detail_length"), type_="check")
        batch.drop_column("off_label_detail")
        batch.drop_column("discusses_off_label")


def downgrade():
    conn = op.get_bind()
    with op.batch_alter_table("disclosure") as batch:
        batch.add_column(sa.Column("discusses_off_label", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("off_label_detail", sa.Text(), nullable=True))
        batch.create_check_constraint(op.f("ck_disclosure_off_label_detail_length"),
                                      "length(off_label_detail) <= 2000")
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("commercial_supporters", sa.JSON(), nullable=True))

    declared: dict[int, str | None] = {}
    for user_id, detail in conn.execute(sa.text(
            "SELECT user_id, off_label_detail FROM assignment WHERE discusses_off_label "
            "ORDER BY id")):
        declared.setdefault(user_id, detail)
    for user_id, detail in declared.items():
        conn.execute(sa.text(
            "UPDATE disclosure SET discusses_off_label = :yes, off_label_detail = :detail "
            "WHERE user_id = :user AND version = "
            "(SELECT max(e.version) FROM disclosure e WHERE e.user_id = :user)"),
            {"yes": True, "detail": detail, "user": user_id})
    names: dict[int, list] = {}
    for activity_id, name, kind, detail in conn.execute(sa.text(
            "SELECT s.activity_id, c.name, s.kind, s.in_kind_detail FROM commercial_support s "
            "JOIN company c ON c.id = s.company_id "
            "WHERE s.activity_id IS NOT NULL AND s.removed_at IS NULL ORDER BY s.id")):
        names.setdefault(activity_id, []).append(
            {"name": name, "in_kind": detail if kind == "in_kind" else None})
    for activity_id in [a for (a,) in conn.execute(sa.text("SELECT id FROM activity"))]:
        conn.execute(sa.text("UPDATE activity SET commercial_supporters = :v WHERE id = :a"),
                     {"v": json.dumps(names.get(activity_id, [])), "a": activity_id})
    with op.batch_alter_table("activity") as batch:
        batch.alter_column("commercial_supporters", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("disclosure") as batch:
        batch.alter_column("discusses_off_label", existing_type=sa.Boolean(), server_default=None)

    with op.batch_alter_table("commercial_support") as batch:
        for column in ("meeting_id", "company_id", "activity_id"):
            batch.drop_index(batch.f(f"ix_commercial_support_{column}"))
    op.drop_table("commercial_support")
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("is_accredited")
    with op.batch_alter_table("assignment") as batch:
        batch.drop_constraint(op.f("ck_assignment_off_label_detail_length"), type_="check")
        batch.drop_column("off_label_detail")
        batch.drop_column("discusses_off_label")
