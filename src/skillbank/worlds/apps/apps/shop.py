"""`shop` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("shop", "(being written)")
TABLES: dict[str, str | None] = {}
