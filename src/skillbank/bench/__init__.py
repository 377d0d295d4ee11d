"""Benchmarks behind `skillbank bench`. Each module exposes `command` (the Typer
command) and a plain function returning the JSON-ready dict."""
