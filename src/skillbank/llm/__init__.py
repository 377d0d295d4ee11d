"""Policies: messages in, text out, token counts (OpenAI-compatible, local, expert, replay)."""
