"""The skill library's record: versions, aliases, events, call statistics."""
