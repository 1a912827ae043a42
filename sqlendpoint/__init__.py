"""The SQL endpoint for BI tools: PostgreSQL's wire protocol over the published warehouse files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from radlake.faces import lazy_face

if TYPE_CHECKING:
    from sqlendpoint.accounts import create_account, database_name
    from sqlendpoint.server import serve

__all__ = [
    "create_account",
    "database_name",
    "serve",
]

__getattr__ = lazy_face(
    __name__,
    {
        "create_account": "accounts",
        "database_name": "accounts",
        "serve": "server",
    },
)
