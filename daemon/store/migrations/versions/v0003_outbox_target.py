"""0003 outbox.target: one outbox row per delivery target (MQTT, or each webhook).

Rows written before this revision were all MQTT messages: they get ``mqtt``. The index
on (target, delivered_at) serves each sender's "undelivered rows of my target" query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "ix_outbox_target_pending"


def upgrade() -> None:
    """Add the column (existing rows: MQTT's) and its index."""
    inspector = sa.inspect(op.get_bind())
    if "target" not in {c["name"] for c in inspector.get_columns("outbox")}:
        op.add_column(
            "outbox",
            sa.Column("target", sa.String(64), nullable=False, server_default="mqtt"),
        )
    if INDEX not in {i["name"] for i in inspector.get_indexes("outbox")}:
        op.create_index(INDEX, "outbox", ["target", "delivered_at"])


def downgrade() -> None:
    """Drop the index and the column (webhook rows then look like MQTT's to old code)."""
    op.drop_index(INDEX, table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("target")
