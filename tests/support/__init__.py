"""Helpers shared by the test packages (no test functions here)."""
