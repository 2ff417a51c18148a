"""0002 reads.provider: which reader produced a read (``tencent`` or ``local``).

The local plate reader (issue 11) records its readings in ``reads`` beside the cloud's
calls. Rows written before this revision were all cloud calls: they get ``tencent``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column, every existing row a cloud read."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("reads")}
    if "provider" not in columns:
        op.add_column(
            "reads",
            sa.Column("provider", sa.String(16), nullable=False, server_default="tencent"),
        )


def downgrade() -> None:
    """Drop the column (local readings then look like cloud calls to old code)."""
    with op.batch_alter_table("reads") as batch:
        batch.drop_column("provider")
