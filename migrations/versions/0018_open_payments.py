"""Open Payments cross-check: an optional NPI on each person, the CMS manufacturers (linked
to registry companies), the payments kept for people with a role, the files imported and
what reviewers did about the advisory check.

``user_account.npi`` is added with ALTER TABLE (no batch rebuild of the accounts table),
with its length check as a column constraint on SQLite and a table constraint on
PostgreSQL, and a unique index (one NPI, one person).

Revision ID: 0018
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('open_payments_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.Enum('general', 'research', 'ownership', name='open_payments_file', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('bytes_read', sa.BigInteger(), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_kept', sa.Integer(), nullable=False),
    sa.Column('rows_refused', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('length(file_name) <= 255', name=op.f('ck_open_payments_import_file_name_length')),
    sa.ForeignKeyConstraint(['imported_by_id'], ['user_account.id'], name=op.f('fk_open_payments_import_imported_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_payments_import'))
    )
    op.create_table('open_payments_manufacturer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cms_id', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.Column('linked_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(cms_id) <= 20', name=op.f('ck_open_payments_manufacturer_cms_id_length')),
    sa.CheckConstraint('length(name) <= 200', name=op.f('ck_open_payments_manufacturer_name_length')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_open_payments_manufacturer_company_id_company')),
    sa.ForeignKeyConstraint(['linked_by_id'], ['user_account.id'], name=op.f('fk_open_payments_manufacturer_linked_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_payments_manufacturer')),
    sa.UniqueConstraint('cms_id', name=op.f('uq_open_payments_manufacturer_cms_id'))
    )
    with op.batch_alter_table('open_payments_manufacturer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_payments_manufacturer_company_id'), ['company_id'], unique=False)

    op.create_table('open_payments_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('asked_person', 'explained', 'not_applicable', name='open_payments_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(note) <= 2000', name=op.f('ck_open_payments_review_note_length')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_open_payments_review_meeting_id_meeting')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_open_payments_review_recorded_by_id_user_account')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_open_payments_review_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_payments_review'))
    )
    with op.batch_alter_table('open_payments_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_payments_review_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_payments_review_user_id'), ['user_id'], unique=False)

    op.create_table('open_payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('general', 'research', 'ownership', name='open_payments_file', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=False),
    sa.Column('manufacturer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('program_year', sa.Integer(), nullable=False),
    sa.Column('nature', sa.String(length=200), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(nature) <= 200', name=op.f('ck_open_payment_nature_length')),
    sa.CheckConstraint('length(npi) <= 10', name=op.f('ck_open_payment_npi_length')),
    sa.CheckConstraint('length(record_id) <= 40', name=op.f('ck_open_payment_record_id_length')),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['open_payments_manufacturer.id'], name=op.f('fk_open_payment_manufacturer_id_open_payments_manufacturer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_payment')),
    sa.UniqueConstraint('kind', 'record_id', 'npi', name=op.f('uq_open_payment_kind_record_id_npi'))
    )
    with op.batch_alter_table('open_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_payment_manufacturer_id'), ['manufacturer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_payment_npi'), ['npi'], unique=False)

    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE user_account ADD COLUMN npi VARCHAR(10) "
                   "CONSTRAINT ck_user_account_npi_length CHECK (length(npi) <= 10)")
    else:
        op.add_column('user_account', sa.Column('npi', sa.String(length=10), nullable=True))
        op.create_check_constraint(op.f('ck_user_account_npi_length'), 'user_account',
                                   'length(npi) <= 10')
    op.create_index(op.f('ix_user_account_npi'), 'user_account', ['npi'], unique=True)


def downgrade():
    op.drop_index(op.f('ix_user_account_npi'), table_name='user_account')
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place (no rebuild of the accounts table).
        op.execute("ALTER TABLE user_account DROP COLUMN npi")
    else:
        op.drop_constraint(op.f('ck_user_account_npi_length'), 'user_account', type_='check')
        op.drop_column('user_account', 'npi')

    with op.batch_alter_table('open_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_payment_npi'))
        batch_op.drop_index(batch_op.f('ix_open_payment_manufacturer_id'))

    op.drop_table('open_payment')
    with op.batch_alter_table('open_payments_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_payments_review_user_id'))
        batch_op.drop_index(batch_op.f('ix_open_payments_review_meeting_id'))

    op.drop_table('open_payments_review')
    with op.batch_alter_table('open_payments_manufacturer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_payments_manufacturer_company_id'))

    op.drop_table('open_payments_manufacturer')
    op.drop_table('open_payments_import')
