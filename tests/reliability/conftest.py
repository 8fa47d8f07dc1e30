"""Fixtures of the reliability suite: lab files with this run's unique t5<token>* names
(tests/support/names.py), and a guarantee that every lab a test touched is gone
afterwards, even when the test fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # topogen, hostsnap, labkit

import labkit  # noqa: E402


class Labs:
    """Writes topology files and remembers every lab name, for cleanup."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.names: dict[str, str | None] = {}  # lab -> netns name prefix (None: "<lab>-")

    def write(self, name: str, text: str, prefix: str | None = None) -> Path:
        assert name.startswith(labkit.PREFIX), name
        self.track(name, prefix)
        path = self.tmp / f"{name}.toml"
        path.write_text(text)
        return path

    def track(self, name: str, prefix: str | None = None) -> None:
        self.names[name] = prefix

    def cleanup(self) -> list[str]:
        left = []
        for name, prefix in self.names.items():
            if found := labkit.leftovers(name, prefix):
                left += found
                labkit.force_clean(name, prefix)
        return left


@pytest.fixture(scope="session")
def backend() -> None:
    """Kernel tests need root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


@pytest.fixture
def labs(tmp_path: Path, backend: None) -> Iterator[Labs]:
    box = Labs(tmp_path)
    try:
        yield box
    finally:
        box.cleanup()
