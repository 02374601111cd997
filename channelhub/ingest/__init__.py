"""Getting events into the platform: the HTTP collector and the Python producer."""
