"""file checks run in the background: where each file's report is shown, and its album

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        # the message that becomes the file's report when its check ends (after a restart too)
        batch_op.add_column(sa.Column('report_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('media_group_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_submission_files_check_status'), ['check_status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_files_check_status'))
        batch_op.drop_column('media_group_id')
        batch_op.drop_column('report_message_id')
