"""submissions.status_at: each application's last status change, kept by transitions.transition(),
indexed with the id, so /submissions reads a page in index order instead of grouping the whole
audit for every page (issue 13: 100,000 creators, about 1.2 s a page before). Filled from the
audit's newest row of each application (its updated_at when it has none).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 07:29:22
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE submissions SET status_at = COALESCE((SELECT MAX(audit.at) FROM audit "
               "WHERE audit.entity = 'submissions' AND audit.entity_id = submissions.id), updated_at)")
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.alter_column('status_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_submissions_status_at_id', ['status_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_status_at_id')
        batch_op.drop_column('status_at')
