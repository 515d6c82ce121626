"""a file once per round: 修改后再审 copies the decided round's files to the next round

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 01:00:00
"""

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.drop_constraint('uq_submission_files_submission_id', type_='unique')
        batch_op.create_unique_constraint('uq_submission_files_submission_id',
                                          ['submission_id', 'round', 'file_unique_id'])


def downgrade() -> None:
    # one row per file again: the files of earlier rounds go (the current round's stay)
    op.execute("DELETE FROM submission_files WHERE round <> "
               "(SELECT submissions.round FROM submissions WHERE submissions.id = submission_files.submission_id)")
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.drop_constraint('uq_submission_files_submission_id', type_='unique')
        batch_op.create_unique_constraint('uq_submission_files_submission_id', ['submission_id', 'file_unique_id'])
