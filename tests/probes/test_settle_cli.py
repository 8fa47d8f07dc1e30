"""`netlab deploy X && netlab check X`, two processes: the check finds the lab deployed
moments ago (Backend.deployed_at) and lets it settle as `deploy --check` does, so a
service that starts listening a second after deploy is waited for, not failed (a
lesson command, docs/labs/broken.md, failed that way once check started in 0.2 s)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.deploy import Labs
from tests.support.names import unique_name

LAB = """
[lab]
name = "{name}"
[nodes.h1]
[nodes.h2]
exec = ["sleep 1.5; exec python3 -m http.server 8080 --bind 0.0.0.0"]
[[links]]
endpoints = ["h1", "h2"]
subnet = "192.168.74.0/30"
[[expect]]
from = "h1"
to = "h2"
proto = "tcp"
port = 8080
"""


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=120)


def test_a_check_right_after_deploy_waits_for_a_slow_service(labs: Labs) -> None:
    name = unique_name("ts")
    path = labs.write(name, LAB.format(name=name))
    r = netlab("deploy", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    t0 = time.monotonic()
    r = netlab("check", name)
    assert r.returncode == 0 and "1/1 expectations passed" in r.stdout, r.stdout + r.stderr
    assert time.monotonic() - t0 < 10, "settled for longer than the window"
