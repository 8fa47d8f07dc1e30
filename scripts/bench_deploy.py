#!/usr/bin/env python3
"""Benchmark deploy and destroy: netlab against the same lab built by `ip`. Needs root.

    python3 scripts/bench_deploy.py [--sizes 10 100 500 1000] [--shapes star chain]
                                    [--tools netlab api ip ip-batch] [--markdown FILE]

Topologies are generated (TOML text): `star` is N hosts on one switch (a /16), `chain`
is N routers in a line joined by /30 links (routing = "none": each router has only its
connected routes, so the lab's size grows linearly with N).

Tools, each building exactly the plan's namespaces, veths, bridge, addresses, routes and
sysctls (the `ip` variants skip what ip cannot do: UTS namespaces and /etc/netns files):
  netlab    `netlab deploy FILE` / `netlab destroy NAME`: the whole command, interpreter
            start-up, imports and plan compile included; peak RSS from wait4().
  api       Lab.deploy(FILE) and Lab.destroy() in a Python that has already imported
            netlab: compile + deploy, without interpreter start-up.
  ip        a shell script, one `ip` (or `ip netns exec ... sysctl`) per command.
  ip-batch  one `ip -batch` for namespaces, sysctls and links, then one `ip -n NS -batch`
            per namespace for its bridge ports / lo, addresses and routes.
Mininet is not installed here; it is skipped when absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netlab.plan import Plan  # noqa: E402

SETTLE = 2.0  # seconds between runs: the kernel frees destroyed namespaces asynchronously


def star_toml(name: str, n: int) -> str:
    out = [f'[lab]\nname = "{name}"\n[switches.s]\nsubnet = "10.64.0.0/16"']
    out += [f"[nodes.h{i}]" for i in range(n)]
    out += [f'[[links]]\nendpoints = ["h{i}", "s"]' for i in range(n)]
    return "\n".join(out) + "\n"


def chain_toml(name: str, n: int) -> str:
    out = [f'[lab]\nname = "{name}"\nrouting = "none"']
    out += [f'[nodes.r{i}]\nkind = "router"' for i in range(n)]
    out += [f'[[links]]\nendpoints = ["r{i}", "r{i + 1}"]' for i in range(n - 1)]
    return "\n".join(out) + "\n"


SHAPES = {"star": star_toml, "chain": chain_toml}


# --- the same lab as `ip` commands ------------------------------------------------------


def ip_commands(plan: Plan) -> tuple[list[list[str]], dict[str, list[str]]]:
    """(commands run in the host's namespace, per-namespace commands) for `ip`."""
    host: list[list[str]] = []
    per_ns: dict[str, list[str]] = {ns: [] for ns in plan.namespaces}
    sw_ns = {s.netns for s in plan.switches}
    for ns in plan.namespaces:
        host.append(["netns", "add", ns])
    for node in plan.nodes:
        sysctls = [f"{k}={v}" for k, v in node.sysctls.items()]
        host.append(["netns", "exec", node.netns, "sysctl", "-qw", *sysctls])
    for sw in plan.switches:
        host.append(["netns", "exec", sw.netns, "sysctl", "-qw",
                     "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        host.append(["link", "add", sw.bridge, "netns", sw.netns, "mtu", str(sw.mtu),
                     "type", "bridge"])
        per_ns[sw.netns].append(f"link set {sw.bridge} up")
    for v in plan.veths:
        a, b = (v.b, v.a) if v.b.netns in sw_ns else (v.a, v.b)
        host.append(["link", "add", b.ifname, "netns", b.netns, "mtu", str(b.mtu), "type",
                     "veth", "peer", a.ifname, "netns", a.netns, "mtu", str(a.mtu)])
        if b.netns in sw_ns:
            per_ns[b.netns].append(f"link set {b.ifname} master br0 up")
        else:
            per_ns[b.netns].append(f"link set {b.ifname} up")
    for node in plan.nodes:
        cmds = per_ns[node.netns]
        cmds.insert(0, "link set lo up")
        for iface in node.interfaces:
            if not any(c == f"link set {iface.name} up" for c in cmds):
                cmds.append(f"link set {iface.name} up")
            for a in iface.addresses:
                cmds.append(f"addr add {a} dev {iface.name}" + (" nodad" if ":" in a else ""))
        for r in node.routes:
            to = {"default": "default", "default6": "-6 default"}.get(r.to, r.to)
            cmds.append(f"route add {to}" + (f" via {r.via}" if r.via else "")
                        + (f" dev {r.dev}" if r.dev else ""))
    return host, per_ns


def ip_script(plan: Plan) -> str:
    host, per_ns = ip_commands(plan)
    lines = ["set -e"] + ["ip " + " ".join(c) for c in host]
    for ns, cmds in per_ns.items():
        lines += [f"ip -n {ns} {c}".replace(f"ip -n {ns} route add -6", f"ip -6 -n {ns} route add")
                  for c in cmds]
    return "\n".join(lines) + "\n"


def run_ip_batch(plan: Plan, tmp: Path) -> None:
    host, per_ns = ip_commands(plan)
    (tmp / "host.batch").write_text("\n".join(" ".join(c) for c in host) + "\n")
    subprocess.run(["ip", "-batch", str(tmp / "host.batch")], check=True, stderr=subprocess.DEVNULL)
    for ns, cmds in per_ns.items():
        text = "\n".join(c.replace("route add -6", "-6 route add") for c in cmds) + "\n"
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=text, text=True, check=True)


def ip_teardown(plan: Plan, tmp: Path) -> None:
    (tmp / "del.batch").write_text("".join(f"netns del {ns}\n" for ns in plan.namespaces))
    subprocess.run(["ip", "-batch", str(tmp / "del.batch")], check=True)


# --- runs -----------------------------------------------------------------------------


def timed(argv: list[str], **kw: object) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of a command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(p.pid, 0)
    took = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{argv[:3]}... failed with exit code {p.returncode}")
    return took, usage.ru_maxrss


API_SNIPPET = """
import sys, time
from netlab.lab import Lab
import netlab.api, netlab.backend.apply, netlab.backend.destroy  # imports before timing
t0 = time.perf_counter()
lab = Lab.deploy(sys.argv[1])
t1 = time.perf_counter()
time.sleep(float(sys.argv[2]))
t2 = time.perf_counter()
lab.destroy()
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t3 - t2:.4f}")
"""


def bench(tool: str, shape: str, n: int, tmp: Path) -> tuple[float, float, int | None]:
    """(deploy s, destroy s, peak RSS KiB or None) of one tool on one lab."""
    from netlab.api import load

    name = f"t3b{shape[0]}{n}"
    path = tmp / f"{name}.toml"
    path.write_text(SHAPES[shape](name, n))
    plan = load(path).plan
    quiet = {"stdout": subprocess.DEVNULL}
    if tool == "netlab":
        up, rss = timed(["netlab", "deploy", str(path)], **quiet)
        time.sleep(SETTLE)
        down, _ = timed(["netlab", "destroy", name], **quiet)
        return up, down, rss
    if tool == "api":
        out = subprocess.run([sys.executable, "-c", API_SNIPPET, str(path), str(SETTLE)],
                             capture_output=True, text=True, check=True).stdout.split()
        return float(out[0]), float(out[1]), None
    if tool == "ip":
        script = tmp / f"{name}.sh"
        script.write_text(ip_script(plan))
        up, _ = timed(["sh", str(script)])
    elif tool == "ip-batch":
        t0 = time.perf_counter()
        run_ip_batch(plan, tmp)
        up = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown tool {tool}")
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    ip_teardown(plan, tmp)
    return up, time.perf_counter() - t0, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 1000])
    ap.add_argument("--shapes", nargs="+", default=["star", "chain"], choices=list(SHAPES))
    ap.add_argument("--tools", nargs="+", default=["netlab", "api", "ip", "ip-batch"])
    ap.add_argument("--markdown", type=Path, help="Also write the table to this file.")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_deploy.py needs root (it builds namespaces)")
    if shutil.which("mn") is None:
        print("Mininet (mn) is not installed: skipped", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    rows = []
    header = "| shape | N | tool | deploy s | destroy s | peak RSS MiB |"
    print(header + "\n|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="t3bench") as d:
        for shape in args.shapes:
            for n in args.sizes:
                for tool in args.tools:
                    time.sleep(SETTLE)
                    up, down, rss = bench(tool, shape, n, Path(d))
                    mib = f"{rss / 1024:.0f}" if rss else ""
                    row = f"| {shape} | {n} | {tool} | {up:.2f} | {down:.2f} | {mib} |"
                    rows.append(row)
                    print(row, flush=True)
    if args.markdown:
        load = os.getloadavg()
        args.markdown.write_text(
            header + "\n|---|---:|---|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            f"(load average at the end: {load[0]:.2f}; {os.cpu_count()} CPUs)\n")


if __name__ == "__main__":
    main()
