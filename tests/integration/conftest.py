"""Kernel tests of the backend: real namespaces, read back through netlink, real pings.

Every lab made here is named t3<this run's token><something> (plan_from) and is destroyed
by the fixture even when the test fails; `leftovers` proves that nothing of it survives.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netlab.compile.compiler import compile_topology
from netlab.plan.model import Plan
from netlab.topology.model import TopologyFile
from tests.support.names import renamed_doc, run_prefix

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.toml"))



@pytest.fixture(autouse=True)
def _need_root(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


def plan_from(source: Path | str, name: str, edit: Callable[[dict[str, Any]], None] | None = None,
              ) -> Plan:
    """Compile a topology file (or TOML text) renamed to lab `name` (prefix = name), made
    this run's own: "t3exec" -> "t3<token>exec" (cut to 12), so that two runs at once
    never deploy the same lab."""
    if name.startswith("t3") and not name.startswith(run_prefix("t3")):
        name = (run_prefix("t3") + name[2:])[:12]
    if isinstance(source, Path):
        raw = tomllib.loads(source.read_text())
        where = str(source)
    else:
        raw = tomllib.loads(source)
        where = f"<{name}>"
    renamed_doc(raw, name)
    if edit is not None:
        edit(raw)
    return compile_topology(TopologyFile.model_validate(raw), where).plan


def leftovers(plan: Plan) -> list[str]:
    """Everything of the lab still on the system (empty when destroy was complete)."""
    from netlab.state.store import lab_dir

    out = [f"netns {n}" for n in plan.namespaces if os.path.lexists(f"/run/netns/{n}")]
    out += [f"/etc/netns/{n}" for n in plan.namespaces if os.path.lexists(f"/etc/netns/{n}")]
    if lab_dir(plan.lab).exists():
        out.append(str(lab_dir(plan.lab)))
    with open("/proc/self/mountinfo") as f:
        out += [f"mount {line.split()[4]}" for line in f
                if f"/{plan.lab}/" in line.split()[4] or
                any(line.split()[4] == f"/run/netns/{n}" for n in plan.namespaces)]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [f"ip netns list: {w}" for w in listed.split() if w in plan.namespaces]
    if plan.uplink is not None:
        r = subprocess.run(["ip", "link", "show", plan.uplink.host_ifname],
                           capture_output=True, text=True)
        if r.returncode == 0:
            out.append(f"host link {plan.uplink.host_ifname}")
    return out


@pytest.fixture
def labs() -> Iterator[list[Plan]]:
    """Plans deployed by the test go in this list; all are destroyed afterwards."""
    from netlab.backends.kernel.destroy import destroy_lab

    deployed: list[Plan] = []
    yield deployed
    for p in deployed:
        destroy_lab(p.lab)
    for p in deployed:
        assert not leftovers(p), leftovers(p)


def deploy(labs: list[Plan], plan: Plan, **kw: Any):  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    labs.append(plan)
    return Lab.deploy(plan, **kw)


def ping(netns: str, address: str, timeout: int = 2) -> bool:
    """The kernel's own ping (iputils) through `ip netns exec`: an independent witness."""
    fam = "-6" if ":" in address else "-4"
    r = subprocess.run(["ip", "netns", "exec", netns, "ping", fam, "-n", "-c1",
                        f"-W{timeout}", address], capture_output=True, text=True)
    return r.returncode == 0
