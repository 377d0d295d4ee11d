"""Build a world of this layer by name: ``make_world("apps" | "appworld", seed=0, **options)``.

Options per name:

- ``apps``: ``people`` (population size, default 72);
- ``appworld``: ``experiment_name``, ``root`` (see `skillbank.worlds.appworld`); the
  seed is ignored (AppWorld's tasks are fixed by its data).

Worlds built with the toolkit (the shipped ``support`` desk, a user's
``package.module:make_world``) live above this layer: `skillbank.toolkit.loader.open_world`
takes every kind of spec, and is what the faces call.

Worlds are imported when asked for, so naming one never pays for another's imports.
"""

from __future__ import annotations

from typing import Any

from skillbank.errors import ValidationError
from skillbank.worlds.base import World

WORLD_NAMES = ("apps", "appworld")
_OPTIONS = {"apps": ("people",), "appworld": ("experiment_name", "root")}


def make_world(name: str = "apps", seed: int = 0, **options: Any) -> World:
    """The world of this layer called `name`, configured from `seed` and `options`."""
    if name not in WORLD_NAMES:
        raise ValidationError(f"unknown world {name!r}; worlds: {', '.join(WORLD_NAMES)}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ValidationError(
            f"unknown option(s) for world {name!r}: {', '.join(unknown)}; expected some of {', '.join(_OPTIONS[name])}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"seed must be an integer, got {seed!r}")
    if name == "apps":
        from skillbank.worlds.apps import AppsWorld

        return AppsWorld(seed, **options)
    from skillbank.worlds.appworld import AppWorldWorld

    return AppWorldWorld(**options)
