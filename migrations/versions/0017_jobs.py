"""Jobs: long work done by the worker, and each reminder message a job sends.

``job`` holds one row per job (progress, errors, report, the uploaded programme and the
built ZIP); ``job_message`` one row per reminder message of a job (unique per job, person
and kind), so a job resumed after a worker died sends nobody twice.

Revision ID: 0017
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('disclosure_reminders', 'review_summaries', 'programme_import', 'records_zip', name='job_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'queued', 'running', 'done', 'failed', name='job_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('running_key', sa.String(length=80), nullable=True),
    sa.Column('stage', sa.String(length=200), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('input_name', sa.String(length=200), nullable=True),
    sa.Column('input_data', sa.LargeBinary(), nullable=True),
    sa.Column('result_name', sa.String(length=200), nullable=True),
    sa.Column('result_data', sa.LargeBinary(), nullable=True),
    sa.Column('result_size', sa.Integer(), nullable=True),
    sa.Column('result_expires_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('length(input_name) <= 200', name=op.f('ck_job_input_name_length')),
    sa.CheckConstraint('length(result_name) <= 200', name=op.f('ck_job_result_name_length')),
    sa.CheckConstraint('length(running_key) <= 80', name=op.f('ck_job_running_key_length')),
    sa.CheckConstraint('length(stage) <= 200', name=op.f('ck_job_stage_length')),
    sa.CheckConstraint('length(worker) <= 120', name=op.f('ck_job_worker_length')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], name=op.f('fk_job_meeting_id_meeting')),
    sa.ForeignKeyConstraint(['started_by_id'], ['user_account.id'], name=op.f('fk_job_started_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job')),
    sa.UniqueConstraint('running_key', name=op.f('uq_job_running_key'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_heartbeat_at'), ['heartbeat_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('job_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('disclosure', 'review_summary', name='reminder_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', 'skipped', 'undelivered', name='delivery_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(message_id) <= 250', name=op.f('ck_job_message_message_id_length')),
    sa.CheckConstraint('length(reason) <= 500', name=op.f('ck_job_message_reason_length')),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_job_message_job_id_job')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_job_message_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_message')),
    sa.UniqueConstraint('job_id', 'user_id', 'kind', name=op.f('uq_job_message_job_id_user_id_kind'))
    )
    with op.batch_alter_table('job_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_message_job_id'), ['job_id'], unique=False)



def downgrade():
    with op.batch_alter_table('job_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_message_job_id'))

    op.drop_table('job_message')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_job_heartbeat_at'))

    op.drop_table('job')
