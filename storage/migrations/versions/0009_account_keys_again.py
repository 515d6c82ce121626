"""account keys of live registrations recomputed with the look-alike rules (format characters
dropped, Cyrillic and Greek look-alikes folded): two names that read the same now clash

A registration whose new key is already another's keeps its old key (the migration must not fail on
data); the log names it, so operators can decide. Erased registrations keep their placeholder key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 19:45:00
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    from bot.services.registration import account_key

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, account_name, account_key, status FROM registrations ORDER BY id")).all()
    taken = {key for _, _, key, _ in rows}
    for reg_id, name, old, status in rows:
        if status == "erased":
            continue
        new = account_key(name)[:64]
        if new == old:
            continue
        if new in taken:
            log.warning("registration %s: its name now reads the same as another's; key left as it was", reg_id)
            continue
        conn.execute(sa.text("UPDATE registrations SET account_key = :new WHERE id = :id"), {"new": new, "id": reg_id})
        taken.discard(old)
        taken.add(new)


def downgrade() -> None:
    pass  # the earlier keys are a coarser form of the same names: nothing to undo
