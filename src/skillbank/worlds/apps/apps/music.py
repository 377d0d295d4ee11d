"""`music` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("music", "(being written)")
TABLES: dict[str, str | None] = {}
