"""Features computed from sessions, shared by the built-in assessors."""
