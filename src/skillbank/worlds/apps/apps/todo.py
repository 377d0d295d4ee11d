"""`todo` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("todo", "(being written)")
TABLES: dict[str, str | None] = {}
