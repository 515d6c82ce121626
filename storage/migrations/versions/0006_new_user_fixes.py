"""what a new user needed: registrations again after erasing, rounds of a registration, a scan
replaced while waiting, applications returned for a file, the reason of a manual check

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        # a person who erased their data may register again: one live registration per person is
        # kept by the service, an erased one stays beside it as an anonymised record
        batch_op.drop_constraint('uq_registrations_user_id', type_='unique')
        batch_op.create_index(batch_op.f('ix_registrations_user_id'), ['user_id'], unique=False)
        batch_op.add_column(sa.Column('round', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('history', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('scan_count', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_note', sa.Text(), nullable=True))
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manual_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.drop_column('manual_reason')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('staff_note')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('scan_count')
        batch_op.drop_column('history')
        batch_op.drop_column('round')
        batch_op.drop_index(batch_op.f('ix_registrations_user_id'))
        batch_op.create_unique_constraint('uq_registrations_user_id', ['user_id'])
