"""outbox rows name the person a notification is about, so erasing a person's data removes the
copies of their form sent to operators too

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('about_user_id', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_about_user_id'), ['about_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_about_user_id'))
        batch_op.drop_column('about_user_id')
