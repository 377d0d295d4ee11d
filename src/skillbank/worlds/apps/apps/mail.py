"""`mail` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("mail", "(being written)")
TABLES: dict[str, str | None] = {}
