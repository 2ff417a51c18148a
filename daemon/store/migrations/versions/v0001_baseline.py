"""0001 baseline: the schema of daemon/store/tables.py when schema versions began.

Creates every table on an empty database. On a database made before versions (by
``metadata.create_all``, possibly by the release before ``passages.access_reason`` and the
access lists), it creates only what is missing: the ``access_list`` table, and
``access_reason`` as a nullable column as the old start-up code added it (rows of that
release read back as ``not_evaluated``). Existing rows are never touched.

Frozen: later schema changes are new revisions, never edits here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)  # UTC without an offset (tables.UTCDateTime's storage)


def upgrade() -> None:
    """Create what is missing; adopt what exists."""
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "passages" not in have:
        _create_passages()
    elif "access_reason" not in _columns("passages"):
        op.add_column("passages", sa.Column("access_reason", sa.String(32)))
    if "reads" not in have:
        _create_reads()
    if "outbox" not in have:
        _create_outbox()
    if "access_list" not in have:
        _create_access_list()


def downgrade() -> None:
    """No way below the baseline: there was no versioned schema before it."""
    raise NotImplementedError("0001 is the baseline")


def _columns(name: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name)}


def _create_passages() -> None:
    op.create_table(
        "passages",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("plate", sa.String(32)),
        sa.Column("color", sa.String(16)),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("category", sa.String(32)),
        sa.Column("rect_x", sa.Integer),
        sa.Column("rect_y", sa.Integer),
        sa.Column("rect_w", sa.Integer),
        sa.Column("rect_h", sa.Integer),
        sa.Column("captured_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.Column("access", sa.String(16), nullable=False),
        sa.Column("access_reason", sa.String(32), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("ocr_calls", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("snapshot", sa.String(255)),
        sa.Column("request_ids", sa.Text, nullable=False),
    )
    op.create_index("ix_passages_plate", "passages", ["plate"])
    op.create_index("ix_passages_captured_at", "passages", ["captured_at"])
    op.create_index("ix_passages_camera_captured", "passages", ["camera", "captured_at"])


def _create_reads() -> None:
    op.create_table(
        "reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("frame_seq", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("plate", sa.String(32)),
        sa.Column("color", sa.String(16)),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(96)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("called", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_reads_event_id", "reads", ["event_id"])
    op.create_index("ix_reads_created_at", "reads", ["created_at"])


def _create_outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64),
                  sa.ForeignKey("passages.event_id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("retain", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered_at", _TS),
    )
    op.create_index("ix_outbox_event_id", "outbox", ["event_id"])
    op.create_index("ix_outbox_delivered_at", "outbox", ["delivered_at"])


def _create_access_list() -> None:
    op.create_table(
        "access_list",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plate", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("note", sa.String(255)),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("plate", "kind", name="uq_access_plate_kind"),
    )
