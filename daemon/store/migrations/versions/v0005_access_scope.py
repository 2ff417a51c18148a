"""0005 access_list grows what car parks use: an owner, a validity window and a scope.

New columns, all on the existing ``access_list`` table (no table beside it): ``owner``,
``valid_from`` / ``valid_until`` (NULL: no bound), ``cameras`` (NULL: every camera) and
``direction`` (``entry`` / ``exit`` / ``any``). Existing rows become "always valid, all
lanes": NULLs and ``any``. Nothing else changes; no row is rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)  # UTC without an offset (tables.UTCDateTime's storage)
_NEW = ("owner", "valid_from", "valid_until", "cameras", "direction")


def upgrade() -> None:
    """Add the columns a database does not have yet (existing rows: always, everywhere)."""
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("access_list")}
    columns: dict[str, sa.Column[object]] = {
        "owner": sa.Column("owner", sa.String(100)),
        "valid_from": sa.Column("valid_from", _TS),
        "valid_until": sa.Column("valid_until", _TS),
        "cameras": sa.Column("cameras", sa.Text),
        "direction": sa.Column("direction", sa.String(8), nullable=False,
                               server_default="any"),
    }
    for name in _NEW:
        if name not in have:
            op.add_column("access_list", columns[name])


def downgrade() -> None:
    """Drop the columns (windows and scopes are lost: every entry then holds always)."""
    with op.batch_alter_table("access_list") as batch:
        for name in reversed(_NEW):
            batch.drop_column(name)
