"""pytest plugin: fixtures for testing against netlab labs (filled in by the probes issue)."""
