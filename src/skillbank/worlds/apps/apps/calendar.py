"""`calendar` (being written)."""

from skillbank.worlds.apps.core import AppDef

APP = AppDef("calendar", "(being written)")
TABLES: dict[str, str | None] = {}
