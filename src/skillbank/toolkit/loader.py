"""Open the world a ``--world`` value names: a built-in one by name (``apps`` and
``appworld`` from `skillbank.worlds.registry`; ``support``, the desk written with this
toolkit, from `skillbank.toolkit.support`) or a user's from ``package.module:attr``."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

from skillbank.errors import ConfigError, ValidationError
from skillbank.worlds import registry
from skillbank.worlds.base import World

_SPEC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)$")
#: What `skillbank run` needs of a world (see `skillbank.worlds.base.World`).
WORLD_METHODS = ("splits", "tasks", "task", "start", "expert_solution")
#: The built-in worlds' names, in the order errors list them.
WORLD_NAMES = (*registry.WORLD_NAMES, "support")


def open_world(spec: str = "apps", *, seed: int = 0, **options: Any) -> World:
    """The world `spec` names: a built-in world's name (configured from `seed` and
    `options`, see `skillbank.worlds.registry`) or ``package.module:attr`` (see
    `load_world`; such a world takes no options)."""
    if isinstance(spec, str) and ":" in spec:
        if options:
            raise ValidationError(f"world {spec!r} takes no options, got {', '.join(sorted(options))}")
        return load_world(spec, seed=seed)
    if spec not in WORLD_NAMES:
        raise ValidationError(f"unknown world {spec!r}; worlds: {', '.join(WORLD_NAMES)}, or package.module:make_world")
    if spec == "support":
        if options:
            raise ValidationError(f"unknown option(s) for world 'support': {', '.join(sorted(options))}; it takes none")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValidationError(f"seed must be an integer, got {seed!r}")
        from skillbank.toolkit.support import make_world as make_support

        return make_support(seed)
    return registry.make_world(spec, seed=seed, **options)


def load_world(spec: str, *, seed: int = 0) -> Any:
    """The world `spec` names: ``module:attr`` where `attr` is a world or a factory of one.

    A factory is called with ``seed=seed`` when it accepts a ``seed`` parameter (or
    ``**kwargs``), else with no arguments.
    """
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValidationError(f"world {spec!r} is not package.module:attr (e.g. mytools.world:make_world)")
    module_name, attr = m.groups()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for world {spec!r}: {exc} "
                          "(is it on PYTHONPATH or installed?)") from None
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ValidationError(f"module {module_name!r} has no attribute {attr!r} (world {spec!r})") from None
    world = target
    if callable(target) and not _is_world(target):
        params: Mapping[str, inspect.Parameter]
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            params = {}
        takes_seed = "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        world = target(seed=seed) if takes_seed else target()
    if not _is_world(world):
        missing = [m for m in WORLD_METHODS if not callable(getattr(world, m, None))]
        raise ValidationError(f"{spec} gave a {type(world).__name__}, not a world (missing: {', '.join(missing)}); "
                              "return a skillbank.toolkit.ToolkitWorld")
    return world


def _is_world(obj: Any) -> bool:
    return not isinstance(obj, type) and all(callable(getattr(obj, m, None)) for m in WORLD_METHODS) \
        and isinstance(getattr(obj, "name", None), str)
