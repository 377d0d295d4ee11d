"""The built-in apps world (AppWorld's shape, our own design and data)."""

from skillbank.worlds.apps.world import SPLITS, AppsTaskEnv, AppsWorld

__all__ = ["SPLITS", "AppsTaskEnv", "AppsWorld"]
