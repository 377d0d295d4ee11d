"""`phone` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("phone", "(being written)")
TABLES: dict[str, str | None] = {}
