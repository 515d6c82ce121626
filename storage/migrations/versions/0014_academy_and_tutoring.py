"""创作学院 and tutoring (issue 11): lesson progress, quiz polls, lesson offers, tutor profiles,
tutorships and their relayed messages, 资源对接 requests; the outbox keeps the message id of a
relayed copy (a reply to it is traced back)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 00:52:53
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assignee_id', sa.BigInteger(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_requests'))
    )
    with op.batch_alter_table('resource_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_requests_user_id'), ['user_id'], unique=False)

    op.create_table('tutorships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('creator_id', sa.BigInteger(), nullable=False),
    sa.Column('tutor_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assigned_by', sa.BigInteger(), nullable=True),
    sa.Column('request', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutorships'))
    )
    with op.batch_alter_table('tutorships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tutorships_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tutorships_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_tutorships_tutor_id'), ['tutor_id'], unique=False)

    op.create_table('lesson_offers',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lesson_offers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'slug', name=op.f('pk_lesson_offers'))
    )
    op.create_table('lesson_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lesson_progress_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lesson_progress')),
    sa.UniqueConstraint('user_id', 'slug', name=op.f('uq_lesson_progress_user_id'))
    )
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_progress_user_id'), ['user_id'], unique=False)

    op.create_table('quiz_polls',
    sa.Column('poll_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('question', sa.Integer(), nullable=False),
    sa.Column('correct_option', sa.Integer(), nullable=False),
    sa.Column('chosen_option', sa.Integer(), nullable=True),
    sa.Column('correct', sa.Boolean(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_quiz_polls_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', name=op.f('pk_quiz_polls'))
    )
    with op.batch_alter_table('quiz_polls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_polls_user_id'), ['user_id'], unique=False)

    op.create_table('tutor_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tutorship_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.BigInteger(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('file_id', sa.String(length=255), nullable=True),
    sa.Column('source_message_id', sa.BigInteger(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tutorship_id'], ['tutorships.id'], name=op.f('fk_tutor_messages_tutorship_id_tutorships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_messages'))
    )
    with op.batch_alter_table('tutor_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tutor_messages_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tutor_messages_tutorship_id'), ['tutorship_id'], unique=False)

    op.create_table('tutor_profiles',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('other_fields', sa.Text(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tutor_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_tutor_profiles'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result_message_id', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('result_message_id')

    op.drop_table('tutor_profiles')
    with op.batch_alter_table('tutor_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tutor_messages_tutorship_id'))
        batch_op.drop_index(batch_op.f('ix_tutor_messages_outbox_id'))

    op.drop_table('tutor_messages')
    with op.batch_alter_table('quiz_polls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_polls_user_id'))

    op.drop_table('quiz_polls')
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lesson_progress_user_id'))

    op.drop_table('lesson_progress')
    op.drop_table('lesson_offers')
    with op.batch_alter_table('tutorships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tutorships_tutor_id'))
        batch_op.drop_index(batch_op.f('ix_tutorships_status'))
        batch_op.drop_index(batch_op.f('ix_tutorships_creator_id'))

    op.drop_table('tutorships')
    with op.batch_alter_table('resource_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_resource_requests_status'))

    op.drop_table('resource_requests')
