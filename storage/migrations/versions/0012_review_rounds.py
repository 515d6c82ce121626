"""review rounds: rounds, reviewer assignments, reviews, reviewer profiles; the round of a
submission and of each of its files

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=True),
    sa.Column('decision_message', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revise_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'],
                            name=op.f('fk_review_rounds_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_rounds')),
    sa.UniqueConstraint('submission_id', 'number', name=op.f('uq_review_rounds_submission_id'))
    )
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_rounds_submission_id'), ['submission_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_rounds_status'), ['status'], unique=False)

    op.create_table('review_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decline_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['review_rounds.id'],
                            name=op.f('fk_review_assignments_round_id_review_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_assignments')),
    sa.UniqueConstraint('round_id', 'reviewer_id', name=op.f('uq_review_assignments_round_id'))
    )
    with op.batch_alter_table('review_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_assignments_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignments_reviewer_id'), ['reviewer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignments_status'), ['status'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('scores', sa.Text(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('staff_note', sa.Text(), nullable=True),
    sa.Column('recommendation', sa.String(length=8), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['review_assignments.id'],
                            name=op.f('fk_reviews_assignment_id_review_assignments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_reviews_assignment_id'))
    )

    op.create_table('reviewer_profiles',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('other_fields', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_reviewer_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reviewer_profiles'))
    )

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='1', nullable=False))
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('submission_files', schema=None) as batch_op:
        batch_op.drop_column('round')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('round')
    op.drop_table('reviewer_profiles')
    op.drop_table('reviews')
    with op.batch_alter_table('review_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_assignments_status'))
        batch_op.drop_index(batch_op.f('ix_review_assignments_reviewer_id'))
        batch_op.drop_index(batch_op.f('ix_review_assignments_round_id'))
    op.drop_table('review_assignments')
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_rounds_status'))
        batch_op.drop_index(batch_op.f('ix_review_rounds_submission_id'))
    op.drop_table('review_rounds')
