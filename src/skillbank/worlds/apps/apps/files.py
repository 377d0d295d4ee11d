"""`files` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("files", "(being written)")
TABLES: dict[str, str | None] = {}
