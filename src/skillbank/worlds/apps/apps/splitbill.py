"""`splitbill` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("splitbill", "(being written)")
TABLES: dict[str, str | None] = {}
