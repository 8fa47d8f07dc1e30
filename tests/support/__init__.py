"""Helpers shared by every test package (no test functions here); see each module:
names (unique lab names, the renamer), compile (topology text -> plan), cli (the CLI
runner), netns (kernel witnesses), host (the leftover scanner, force-clean), deploy (the
lab tracker that always destroys), traffic (sockets in namespaces), plugin (fixtures and
the root marking, registered by tests/conftest.py)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
