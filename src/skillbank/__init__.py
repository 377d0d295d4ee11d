"""skillbank: executable skill libraries for self-improving LLM agents."""

__version__ = "0.1.0"
