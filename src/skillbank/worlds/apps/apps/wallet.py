"""`wallet` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("wallet", "(being written)")
TABLES: dict[str, str | None] = {}
