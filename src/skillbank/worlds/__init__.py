"""Worlds the agent acts in: the `World`/`TaskEnv` interface, the one world engine
(`engine/`), the built-in apps and support worlds and an adapter for a locally installed
AppWorld."""
