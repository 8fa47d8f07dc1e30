"""Expectations of the table kinds (route, address, command) compiled from TOML against
the t4a probe lab's nodes, to be checked on a deployed copy of it (the copy's lab name
differs; expectations name nodes only)."""

from __future__ import annotations

from netlab.plan.model import ExpectPlan
from tests.probes.conftest import TOPOLOGIES
from tests.support.compile import plan as compile_plan


def expectations(extra: str) -> list[ExpectPlan]:
    """The [[expect]] tables in `extra`, compiled with t4a (whose own four come first and
    are dropped); `within` is 0 unless they say (a failure is final at once)."""
    text = (TOPOLOGIES / "t4a.toml").read_text().replace("[lab]\n", '[lab]\nwithin = "0s"\n')
    return compile_plan(text + "\n" + extra).expect[4:]
