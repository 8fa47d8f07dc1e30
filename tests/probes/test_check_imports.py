"""`netlab check NAME` starts fast: a check of the natgw lab (icmp, tcp states, source_nat
watched by a sniffer) builds and reads its packets itself (netlab.probes.packets), so
neither scapy nor pyroute2 is imported, and no topology is compiled."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from netlab.plan.model import Plan

pytestmark = pytest.mark.root

NATGW = Path(__file__).parents[2] / "topologies" / "natgw.toml"

# The CLI as a user runs it; what was imported is printed when it exits.
PROBE = """
import atexit, sys
def report():
    heavy = sorted({m.split('.')[0] for m in sys.modules
                    if m.startswith(('scapy', 'pyroute2', 'networkx', 'netlab.compile'))})
    print('IMPORTED', ' '.join(heavy) or 'nothing')
atexit.register(report)
sys.argv = ['netlab', 'check', sys.argv[1]]
from netlab.cli import main
main()
"""


def test_check_of_a_deployed_lab_imports_no_scapy(deploy: Callable[[str], Plan]) -> None:
    text = NATGW.read_text().replace('name = "natgw"', 'name = "{name}"', 1)
    plan = deploy(text)
    # The web server (started by `exec`) may not listen yet: `netlab check` by hand is
    # final at once, and starts in ~0.2 s now (netlab/cli/fast.py).
    import time

    from netlab import api

    for _ in range(40):
        if api.check(plan.lab).ok:
            break
        time.sleep(0.25)
    r = subprocess.run([sys.executable, "-c", PROBE, plan.lab], capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3/3 expectations passed" in r.stdout, r.stdout
    assert "IMPORTED nothing" in r.stdout, r.stdout
