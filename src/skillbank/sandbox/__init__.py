"""Sandboxed execution of agent-written code."""
