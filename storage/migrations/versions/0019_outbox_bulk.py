"""outbox.bulk: a row a scan queued for many people (reminders) goes after the notifications of
people's own actions and before broadcasts' copies, so a start-up scan's 40,000 reminders do not
hold an operator's /pending cards back for half an hour (issue 13, bench/bench_scale.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 10:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bulk', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('bulk')
