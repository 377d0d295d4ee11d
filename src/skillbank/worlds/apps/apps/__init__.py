"""The apps of the built-in world; each module declares `APP`, `TABLES` and `seed`."""
