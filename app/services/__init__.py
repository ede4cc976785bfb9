"""Use cases. Each takes a session, flushes (never commits) and raises app.errors."""
