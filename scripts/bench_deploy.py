#!/usr/bin/env python3
"""Benchmark deploy and destroy: netlab against the same lab built by `ip`. Needs root
(but for the compile tool alone).

    python3 scripts/bench_deploy.py [--sizes 10 100 500 1000] [--shapes star chain multi]
                                    [--per-switch 500] [--tools netlab api compile ip ip-batch]
                                    [--src DIR ...] [--settle 2] [--markdown FILE]

Topologies are generated (TOML text): `star` is N hosts on one switch (a /16; a Linux
bridge takes at most 1023 ports, so N <= 1023), `chain` is N routers in a line joined by
/30 links (routing = "none": each router has only its connected routes, so the lab's size
grows linearly with N), `multi` is N hosts on N / --per-switch switches (a /16 each)
joined by one router, "gw" (the shape of a big lab: 4000 = 8 switches of 500).

Tools, each building exactly the plan's namespaces, veths, bridge, addresses, routes and
sysctls (the `ip` variants skip what ip cannot do: UTS namespaces and /etc/netns files):
  netlab    `netlab deploy FILE` / `netlab destroy NAME`: the whole command, interpreter
            start-up, imports and plan compile included; peak RSS from wait4().
  api       Lab.deploy(FILE) and Lab.destroy() in a Python that has already imported
            netlab: compile + deploy, without interpreter start-up.
  compile   `netlab plan --json FILE`: the whole command (start-up, compile, JSON), nothing
            deployed; its time is in the deploy column, and the size of the JSON is shown.
For netlab and compile, "cpu s" is the command's CPU time (user + system): unlike the wall
time, it hardly changes with what else the machine is running.
  ip        a shell script, one `ip` (or `ip netns exec ... sysctl`) per command.
  ip-batch  one `ip -batch` for namespaces, sysctls and links, then one `ip -n NS -batch`
            per namespace for its bridge ports / lo, addresses and routes.
--src: the netlab source trees the netlab, api and compile tools run (default: this one).
With several (e.g. a checkout of the previous commit, then this one), each lab is
measured with each tree in turn, so that the machine's load hits them alike.
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

from netlab.plan.model import Plan  # noqa: E402

SETTLE = 2.0  # seconds between runs (--settle): the kernel frees destroyed namespaces
# asynchronously, and a deploy that starts meanwhile competes with it


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


PER_SWITCH = 500  # hosts per switch of the multi shape (--per-switch)


def multi_toml(name: str, n: int) -> str:
    switches = max(1, -(-n // PER_SWITCH))
    if switches > 190:
        raise SystemExit(f"multi {n}: {switches} switches, more than this script numbers")
    out = [f'[lab]\nname = "{name}"', '[nodes.gw]\nkind = "router"']
    for s in range(switches):
        out.append(f'[switches.s{s}]\nsubnet = "10.{64 + s}.0.0/16"')
        out.append(f'[[links]]\nendpoints = ["gw", "s{s}"]')
    out += [f'[nodes.h{i}]\n[[links]]\nendpoints = ["h{i}", "s{i // PER_SWITCH}"]'
            for i in range(n)]
    return "\n".join(out) + "\n"


SHAPES = {"star": star_toml, "chain": chain_toml, "multi": multi_toml}


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


def timed(argv: list[str], **kw: object) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of a command. The CPU
    time hardly depends on what else the machine runs; the wall time does."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(p.pid, 0)
    took = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{argv[:5]}... failed with exit code {p.returncode}")
    return took, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


API_SNIPPET = """
import sys, time
from netlab.lab import Lab
import netlab.api, netlab.backends.kernel.apply  # imports before timing
import netlab.backends.kernel.destroy
t0 = time.perf_counter()
lab = Lab.deploy(sys.argv[1])
t1 = time.perf_counter()
time.sleep(float(sys.argv[2]))
t2 = time.perf_counter()
lab.destroy()
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t3 - t2:.4f}")
"""


def live_namespaces() -> int | None:
    """Network namespaces the kernel still holds (named or not, being freed or not)."""
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                if line.startswith("net_namespace "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def settle(before: int | None) -> None:
    """Wait SETTLE seconds, then until the kernel has freed the namespaces of the last lab
    (it does so in the background, after destroy returns; 4000 take a few seconds, and a
    deploy started meanwhile competes with that work and measures slow)."""
    time.sleep(SETTLE)
    deadline = time.monotonic() + 120
    while before is not None and time.monotonic() < deadline:
        now = live_namespaces()
        if now is None or now <= before + 20:  # others' labs may come and go meanwhile
            return
        time.sleep(0.5)


def in_tree(src: Path) -> dict[str, object]:
    """Popen arguments that make `python -m netlab` import netlab from `src`."""
    env = dict(os.environ, PYTHONPATH=str(src))
    return {"cwd": str(src), "env": env}


def netlab_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "netlab", *args]


class Result:
    def __init__(self, up: float, down: float | None = None, rss: int | None = None,
                 size: int | None = None, cpu: float | None = None):
        self.up, self.down, self.rss, self.size, self.cpu = up, down, rss, size, cpu


def bench(tool: str, shape: str, n: int, tmp: Path, src: Path) -> Result:
    """Deploy and destroy one lab with one tool (netlab, api, compile: from tree `src`)."""
    from netlab.api import load

    name = f"t3b{shape[0]}{n}"
    path = tmp / f"{name}.toml"
    path.write_text(SHAPES[shape](name, n))
    quiet = {"stdout": subprocess.DEVNULL}
    if tool == "compile":
        out = tmp / "plan.json"
        with open(out, "wb") as f:
            up, rss, cpu = timed(netlab_argv("plan", "--json", str(path)), stdout=f,
                                 **in_tree(src))
        return Result(up, None, rss, out.stat().st_size, cpu)
    if tool == "netlab":
        try:
            up, rss, cpu = timed(netlab_argv("deploy", str(path)), **quiet, **in_tree(src))
            time.sleep(SETTLE)
        finally:  # never leave a lab behind, even when deploy failed or was interrupted
            down, _, _ = timed(netlab_argv("destroy", name), **quiet, **in_tree(src))
        return Result(up, down, rss, cpu=cpu)
    if tool == "api":
        try:
            out = subprocess.run([sys.executable, "-c", API_SNIPPET, str(path), str(SETTLE)],
                                 capture_output=True, text=True, check=True,
                                 **in_tree(src)).stdout.split()  # type: ignore[call-overload]
        except BaseException:
            subprocess.run(netlab_argv("destroy", name), **quiet, **in_tree(src))  # type: ignore[call-overload]
            raise
        return Result(float(out[0]), float(out[1]))
    plan = load(path).plan
    try:
        if tool == "ip":
            script = tmp / f"{name}.sh"
            script.write_text(ip_script(plan))
            up, _, _ = timed(["sh", str(script)])
        elif tool == "ip-batch":
            t0 = time.perf_counter()
            run_ip_batch(plan, tmp)
            up = time.perf_counter() - t0
        else:
            raise SystemExit(f"unknown tool {tool}")
        time.sleep(SETTLE)
    finally:
        t0 = time.perf_counter()
        ip_teardown(plan, tmp)
    return Result(up, time.perf_counter() - t0)


def main() -> None:
    global PER_SWITCH, SETTLE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 1000])
    ap.add_argument("--shapes", nargs="+", default=["star", "chain"], choices=list(SHAPES))
    ap.add_argument("--per-switch", type=int, default=PER_SWITCH,
                    help="Hosts per switch of the multi shape.")
    ap.add_argument("--tools", nargs="+", default=["netlab", "api", "ip", "ip-batch"],
                    choices=["netlab", "api", "compile", "ip", "ip-batch"])
    ap.add_argument("--src", type=Path, nargs="+", default=[ROOT],
                    help="netlab source trees to measure (default: this checkout).")
    ap.add_argument("--settle", type=float, default=SETTLE,
                    help="Seconds to wait before each run and between deploy and destroy.")
    ap.add_argument("--markdown", type=Path, help="Also write the table to this file.")
    args = ap.parse_args()
    PER_SWITCH, SETTLE = args.per_switch, args.settle
    if os.geteuid() != 0 and set(args.tools) != {"compile"}:
        raise SystemExit("bench_deploy.py needs root (it builds namespaces)")
    if shutil.which("mn") is None:
        print("Mininet (mn) is not installed: skipped", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    srcs = [s.resolve() for s in args.src]
    baseline = live_namespaces()
    rows = []
    header = ("| shape | N | tool | deploy s | cpu s | destroy s | peak RSS MiB | plan.json MB |\n"
              "|---|---:|---|---:|---:|---:|---:|---:|")
    print(header)
    with tempfile.TemporaryDirectory(prefix="t3bench") as d:
        for shape in args.shapes:
            for n in args.sizes:
                for tool in args.tools:
                    # The ip tools build from the plan alone: one run, whatever the trees.
                    trees = srcs if tool in ("netlab", "api", "compile") else srcs[:1]
                    for src in trees:
                        if tool != "compile":
                            settle(baseline)
                        r = bench(tool, shape, n, Path(d), src)
                        label = tool + (f" ({src.name or src})" if len(srcs) > 1
                                        and tool in ("netlab", "api", "compile") else "")
                        row = (f"| {shape} | {n} | {label} | {r.up:.2f} | "
                               + (f"{r.cpu:.2f}" if r.cpu is not None else "") + " | "
                               + (f"{r.down:.2f}" if r.down is not None else "") + " | "
                               + (f"{r.rss / 1024:.0f}" if r.rss else "") + " | "
                               + (f"{r.size / 1e6:.2f}" if r.size is not None else "") + " |")
                        rows.append(row)
                        print(row, flush=True)
    if args.markdown:
        load = os.getloadavg()
        args.markdown.write_text(
            header + "\n" + "\n".join(rows) + "\n\n"
            f"(load average at the end: {load[0]:.2f}; {os.cpu_count()} CPUs)\n")


if __name__ == "__main__":
    main()
