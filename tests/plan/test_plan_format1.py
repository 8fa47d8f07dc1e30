"""A lab whose saved plan is in format 1 (deployed by netlab 0.1, before an upgrade) is
still inspected and destroyed; a plan of an unknown format says what to do."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from netlab.plan.model import Plan
from netlab.state.store import PLAN_FILE, lab_dir
from tests.support import REPO
from tests.support.compile import plan_from
from tests.support.host import plan_leftovers
from tests.support.names import run_prefix

pytestmark = pytest.mark.root


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=60)


def test_a_lab_saved_in_format_1_is_inspected_and_destroyed(labs: list[Plan]) -> None:
    from netlab.lab import Lab

    name = run_prefix("t3") + "f" + secrets.token_hex(2)  # plan_from keeps it as it is
    plan = plan_from(REPO / "topologies" / "two-hosts.toml", name)
    labs.deploy(plan)
    saved = lab_dir(name) / PLAN_FILE
    raw = json.loads(saved.read_text())
    hosts = raw.pop("hosts")
    for node in raw["nodes"]:
        node["hosts"] = hosts  # as netlab 0.1 wrote it
    saved.write_text(json.dumps({**raw, "format": 1}))

    assert Lab.attach(name).plan == plan
    status = _cli("status", "--lab", name)
    assert status.returncode == 0, status.stdout + status.stderr
    # The node's /etc/hosts came from the lab-level text: names resolve in the node.
    got = _cli("exec", "--lab", name, "h1", "--", "getent", "hosts", "h2")
    assert got.returncode == 0 and got.stdout.split()[0] == "192.168.1.2", got

    # A plan this netlab cannot read: a message, no traceback; destroy still works.
    saved.write_text(json.dumps({**raw, "format": 99}))
    status = _cli("status", "--lab", name)
    assert status.returncode != 0 and "Traceback" not in status.stderr
    assert "format 99" in status.stderr and f"netlab destroy {name}" in status.stderr
    gone = _cli("destroy", name)
    assert gone.returncode == 0, gone.stderr
    assert plan_leftovers(plan) == []
