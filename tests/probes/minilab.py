"""A stand-in deployer for tests: builds a compiled Plan with `ip`/`nft` commands and
records it where netlab.state looks. Only the basics (no exec, no uplink, no shaping).

Written before the real backend (netlab.lab.Lab.deploy) existed; the probe tests now use
the backend, but other test suites (tests/links) still import this module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from netlab import state
from netlab.netns import entered
from netlab.plan import Plan


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _sysctl(netns: str, key: str, value: str) -> None:
    with entered(netns), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


def deploy(plan: Plan, run_dir: Path | None = None) -> None:
    """Create every namespace, wire and address of `plan`; on failure undo and re-raise."""
    try:
        _deploy(plan)
    except BaseException:
        destroy(plan, run_dir)
        raise
    d = (run_dir or state.RUN_DIR) / plan.lab
    d.mkdir(parents=True, exist_ok=True)
    (d / state.PLAN_FILE).write_text(plan.to_json())


def _deploy(plan: Plan) -> None:
    for ns in plan.namespaces:
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    for n in plan.nodes:
        for k, v in n.sysctls.items():
            _sysctl(n.netns, k, v)
        etc = Path("/etc/netns") / n.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(n.resolv_conf)
        (etc / "hosts").write_text(n.hosts)
    for s in plan.switches:
        _ip("-n", s.netns, "link", "add", s.bridge, "type", "bridge")
        _ip("-n", s.netns, "link", "set", s.bridge, "up")
    for v in plan.veths:
        _ip("-n", v.a.netns, "link", "add", v.a.ifname, "mtu", str(v.a.mtu), "type", "veth",
            "peer", "name", v.b.ifname, "mtu", str(v.b.mtu), "netns", v.b.netns)
    for s in plan.switches:
        for p in s.ports:
            _ip("-n", s.netns, "link", "set", p.ifname, "master", s.bridge, "up")
    for n in plan.nodes:
        for i in n.interfaces:
            for a in i.addresses:
                extra = ["nodad"] if ":" in a else []
                _ip("-n", n.netns, "addr", "add", a, "dev", i.name, *extra)
            _ip("-n", n.netns, "link", "set", i.name, "up")
        for r in n.routes:
            fam = ["-6"] if r.to == "default6" or ":" in r.to else []
            to = "default" if r.to.startswith("default") else r.to
            args = ["-n", n.netns, *fam, "route", "add", to]
            args += ["via", r.via] if r.via else []
            args += ["dev", r.dev] if r.dev else []
            _ip(*args)
        if n.nftables:
            subprocess.run(["ip", "netns", "exec", n.netns, "nft", "-f", "-"],
                           input=n.nftables, check=True, capture_output=True, text=True)


def destroy(plan: Plan, run_dir: Path | None = None) -> None:
    """Remove everything deploy() may have created; never fails on missing pieces."""
    for ns in plan.namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
    shutil.rmtree((run_dir or state.RUN_DIR) / plan.lab, ignore_errors=True)


def netns_exec(netns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run argv inside netns (no shell); returns the completed process."""
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True,
                          text=True, **kw)  # type: ignore[call-overload]


def is_root() -> bool:
    return os.geteuid() == 0
