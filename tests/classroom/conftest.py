"""Fixtures of the classroom tests: unique class names, and every class (and every lab a
test names) destroyed at the end, also when the test failed."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host
from tests.support.cli import invoke
from tests.support.names import run_prefix

LAN4 = Path(__file__).resolve().parents[2] / "topologies" / "lan4.toml"


class Classes:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.labs: list[str] = []

    def name(self) -> str:
        """A class name of this run, 9 characters: its copies are "<name>-01" ..."""
        n = run_prefix("c") + secrets.token_hex(2)
        self.names.append(n)
        return n

    def lab(self, stem: str = "k") -> str:
        n = run_prefix(stem) + secrets.token_hex(2)
        self.labs.append(n)
        return n

    def cleanup(self) -> list[str]:
        from netlab.classroom import deploy, record
        from netlab.errors import NetlabError

        left: list[str] = []
        for cls in self.names:
            with contextlib.suppress(NetlabError):
                deploy.down(cls)
            # One scan for every copy: their namespaces all start with "<class>-".
            found = host.settled_leftovers(cls, prefix=cls + "-")
            found += [f"state {p}" for p in host.run_dir().glob(cls + "-*")]
            if found:
                left += found
                copies = {n[: len(cls) + 3] for n in host.netns_names() if n.startswith(cls)}
                copies |= {p.name for p in host.run_dir().glob(cls + "-*")}
                for lab in sorted(copies):
                    host.force_clean(lab)
            with contextlib.suppress(Exception):
                record.remove(cls)
        for lab in self.labs:
            if found := host.settled_leftovers(lab):
                left += found
                host.force_clean(lab)
        return left


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`netlab ARGS` in this process (fast; tests/support/cli.py), as a CompletedProcess."""
    r = invoke(*args)
    return subprocess.CompletedProcess(["netlab", *args], r.code, r.stdout, r.stderr)


@pytest.fixture
def classes() -> Iterator[Classes]:
    box = Classes()
    try:
        yield box
    finally:
        left = box.cleanup()
    assert not left, f"left behind: {left}"
