"""Helpers for the bundled-lab tests: the expected failures of exercise labs, and the
names and renamed copies tests deploy bundled labs under (never a student's lab name)."""

from __future__ import annotations

from tests.support.names import run_prefix

# Expectation indexes that must FAIL in a bundled lab (exercises with deliberate faults);
# every other expectation of every lab must pass. Keep in step with docs/labs/<lab>.md.
EXPECTED_FAILURES: dict[str, set[int]] = {
    "broken": {3, 4, 5},  # wrong gateway on pc1 (3, 5) and no route back to lan1 on r2 (4)
}

# Labs whose state comes from daemons (FRR, DHCP, router advertisements): they converge
# after deploy, so tests/labs/test_routing_labs.py deploys and grades them (with their
# `within`), and the generic once-per-lab tests leave them out.
DYNAMIC_LABS = ["ospf", "ospf-areas", "rip", "bgp", "failover", "dhcp", "slaac"]

TEST_PREFIX = run_prefix("t6")  # this run's: two runs at once never share a lab name


def deploy_name(lab: str) -> str:
    """A unique, valid lab name for deploying bundled lab `lab` from tests: this run's
    prefix and 5 letters of the lab's name (11 characters: room for one more)."""
    stem = lab.replace("-", "")
    return TEST_PREFIX + stem[:3] + stem[-2:]
