"""The skill-library agent: retrieve, prompt, run turns, detect operations, trace."""
