"""`skipcall-bridge`, the operator's command: its verbs by what they work on (`main` parses
them; the development package adds its own through entry points)."""
