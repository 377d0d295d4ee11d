"""Build a built-in world by name: ``make_world("apps" | "support" | "appworld", seed=0, **options)``.

Options per name:

- ``apps``: ``people`` (population size, default 72);
- ``support``: none (the support desk of `skillbank.worlds.support`, built with the toolkit);
- ``appworld``: ``experiment_name``, ``root`` (see `skillbank.worlds.appworld`); the
  seed is ignored (AppWorld's tasks are fixed by its data).

A user's own world (``package.module:make_world``) is loaded above this layer:
`skillbank.toolkit.loader.open_world` takes both kinds of spec.

Worlds are imported when asked for, so naming one never pays for another's imports.
"""

from __future__ import annotations

from typing import Any

from skillbank.errors import ValidationError
from skillbank.worlds.base import World

WORLD_NAMES = ("apps", "appworld", "support")
_OPTIONS = {"apps": ("people",), "support": (), "appworld": ("experiment_name", "root")}


def make_world(name: str = "apps", seed: int = 0, **options: Any) -> World:
    """The built-in world called `name`, configured from `seed` and `options`."""
    if name not in WORLD_NAMES:
        raise ValidationError(f"unknown world {name!r}; worlds: {', '.join(WORLD_NAMES)}, or package.module:make_world")
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
    if name == "support":
        from skillbank.worlds.support import make_world as make_support

        return make_support(seed)
    from skillbank.worlds.appworld import AppWorldWorld

    return AppWorldWorld(**options)
