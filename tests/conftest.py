"""Suite-wide pytest set-up: the shared fixtures and the root marking live in
tests/support/plugin.py, registered here once for every test file wherever it lives
(pytester: for the tests of that plugin, tests/support/test_support.py)."""

pytest_plugins = ["tests.support.plugin", "pytester"]
