"""0004 the operator page's tables: ``manual_opens`` (the audit) and ``corrections``.

Both are new tables; nothing existing changes. See daemon/store/tables.py for the columns'
meaning (the web page writes them: daemon/store/audit.py, daemon/store/corrections.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)  # UTC without an offset (tables.UTCDateTime's storage)


def upgrade() -> None:
    """Create the two tables and their indexes, unless a database already has them."""
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "manual_opens" not in have:
        op.create_table(
            "manual_opens",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", _TS, nullable=False),
            sa.Column("operator", sa.String(64), nullable=False),
            sa.Column("camera", sa.String(64), nullable=False),
            sa.Column("reason", sa.String(200), nullable=False),
            sa.Column("event_id", sa.String(64), nullable=False),
            sa.Column("outcome", sa.String(255), nullable=False),
        )
        op.create_index("ix_manual_opens_at", "manual_opens", ["at"])
    if "corrections" not in have:
        op.create_table(
            "corrections",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("event_id", sa.String(64), nullable=False),
            sa.Column("corrected_event_id", sa.String(64), nullable=False, unique=True),
            sa.Column("plate", sa.String(32), nullable=False),
            sa.Column("operator", sa.String(64), nullable=False),
            sa.Column("at", _TS, nullable=False),
            sa.Column("access", sa.String(16), nullable=False),
            sa.Column("access_reason", sa.String(32), nullable=False),
        )
        op.create_index("ix_corrections_event_id", "corrections", ["event_id"])


def downgrade() -> None:
    """Drop both tables (the audit and the corrections are lost)."""
    op.drop_table("corrections")
    op.drop_table("manual_opens")
