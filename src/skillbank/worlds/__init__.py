"""Worlds the agent acts in: the `World`/`TaskEnv` interface, the built-in apps world and
an adapter for a locally installed AppWorld."""
