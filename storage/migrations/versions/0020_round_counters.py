"""review_rounds count their assignments (active, assigned, done) and keep when a reviewer last left
and when the last review came in: kept by rounds.count_assignment at every assignment status change,
so the operators' /review_queue and their /start counts read each round instead of grouping every
open round's assignments (issue 13: 0.6-1 s at 25,846 open rounds). Filled from the assignments.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 11:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

COUNT = "(SELECT count(*) FROM review_assignments a WHERE a.round_id = review_rounds.id AND a.status IN ({}))"
ASSIGNED, SUBMITTED = "'assigned'", "'submitted'"
ACTIVE = f"{ASSIGNED}, {SUBMITTED}"  # what counts towards a round's reviewers


def upgrade() -> None:
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('assigned_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('done_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('left_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE review_rounds SET "
        f"active_count = {COUNT.format(ACTIVE)}, "
        f"assigned_count = {COUNT.format(ASSIGNED)}, "
        f"done_count = {COUNT.format(SUBMITTED)}, "
        "left_at = (SELECT max(a.closed_at) FROM review_assignments a WHERE a.round_id = review_rounds.id "
        f"AND a.status NOT IN ({ACTIVE}) AND a.closed_at IS NOT NULL), "
        "reviewed_at = (SELECT max(coalesce(r.submitted_at, a.closed_at)) FROM review_assignments a "
        "LEFT JOIN reviews r ON r.assignment_id = a.id WHERE a.round_id = review_rounds.id "
        f"AND a.status = {SUBMITTED})")


def downgrade() -> None:
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('left_at')
        batch_op.drop_column('done_count')
        batch_op.drop_column('assigned_count')
        batch_op.drop_column('active_count')
