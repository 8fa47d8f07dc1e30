"""Fixtures for probe tests (labs are deployed by the shared `deploy` fixture,
tests/support/plugin.py): the probe topologies' own labs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from netlab.plan.model import Plan

TOPOLOGIES = Path(__file__).parent / "topologies"


@pytest.fixture(scope="module")
def t4a(deploy: Callable[[Path], Plan]) -> Plan:
    """pc1, pc2 on a LAN behind NAT router gw; web behind gw; far behind web (no route)."""
    return deploy(TOPOLOGIES / "t4a.toml")
