"""The CLI's command groups, one module each; `skillbank.cli` assembles them."""
