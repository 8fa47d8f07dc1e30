#!/usr/bin/env python3
"""How long `netlab check` takes (issue 13 item 6; figures in docs/probes.md).

    sudo python3 scripts/bench_check.py [--runs 5] [--baseline DIR]

Deploys three labs under fresh names (destroyed at the end, also on failure) and times:
  a) the natgw lab's check: `netlab check NAME` end to end (a new process, as a user runs
     it; wall and CPU time), timed in turns with, in the same run, `python3 -c pass` (the
     floor: Python's own start-up on this machine) and the same command the typer way
     (NETLAB_NO_FAST=1: what it cost before netlab/cli/fast.py); `netlab check FILE`
     (the file is compiled and compared with the deployed plan first), and in-process
     (netlab.api.check); target < 0.3 s;
  b) a 50-expectation lab of mixed kinds (icmp, tcp and udp states, dns, route, address,
     command, path, size, rtt, loss; no rate) when all pass; target < 1 s;
  c) 16 and 24 failures with a 1 s timeout each (silence: an address nobody holds),
     checked in parallel: they must cost about one timeout in all (check.worker_count
     runs 16 at once in these 3-node labs, 24 for the second), not one per failure.
Prints one line per figure (best and median of --runs) and the ratio to its target.

--baseline DIR: DIR holds another copy of the netlab package (DIR/netlab, e.g. the tree
before a change, `cp -a netlab DIR/`); its `netlab check NAME` is timed in turns with this
tree's on the same lab, and the ratio printed: a before/after comparison in one run, on
a machine whose load changes between runs.

Child Pythons keep their bytecode in a private cache for the run (as a user's install
keeps its .pyc files), also when PYTHONDONTWRITEBYTECODE is set, which would otherwise
make every command compile netlab anew (about 0.4 s of each).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The benchmark checks this lab --runs times in a row, faster than the kernel's per-peer
# ICMP rate limit (a burst of 6, then one a second) lets the same errors through: its
# nodes answer every probe (icmp_ratelimit = 0), as they would checked once.
MIXED_LAB = """
[lab]
name = "{name}"
within = "0s"
[nodes.a]
sysctl = { "net.ipv4.icmp_ratelimit" = 0 }
[nodes.b]
sysctl = { "net.ipv4.icmp_ratelimit" = 0 }
[nodes.r]
kind = "router"
sysctl = { "net.ipv4.icmp_ratelimit" = 0 }
[[links]]
endpoints = ["a", "r"]
subnet = "10.81.1.0/24"
[[links]]
endpoints = ["r", "b"]
subnet = "10.81.2.0/24"
"""

# Fifty expectations of eleven kinds that pass on MIXED_LAB. Answers that are ICMP errors
# (port unreachable, time exceeded) come from distinct (answerer, asker) pairs: the kernel
# rate-limits them per peer (a burst of 6, then one a second), so five identical UDP probes
# at once would see silence.
PAIRS = [("a", "b"), ("b", "a"), ("r", "a"), ("r", "b"), ("a", "r")]
# Port unreachable from the target to the source; the path a -> b has r answer a.
UDP_PAIRS = [("a", "b"), ("b", "a"), ("r", "a"), ("r", "b"), ("b", "r")]
MIXED = (
    [f'from = "{s}"\nto = "{d}"' for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nproto = "tcp"\nport = 22\nstate = "closed"'
       for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nproto = "udp"\nport = 53\nstate = "closed"'
       for s, d in UDP_PAIRS]
    + [f'from = "{s}"\ndns = {{ name = "{d}" }}' for s, d in PAIRS]
    + ['from = "a"\nroute = { to = "default", via = "10.81.1.2" }'] * 5
    + ['from = "r"\naddress = { dev = "eth1", ip = "10.81.2.1/24" }'] * 5
    + ['from = "b"\ncommand = { run = "true", exit = 0 }'] * 5
    + ['from = "a"\nto = "b"\npath = { nodes = ["r"] }']
    + [f'from = "{s}"\nto = "{d}"\nsize = 1400' for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nrtt = {{ max = "100ms", count = 5 }}' for s, d in PAIRS]
    + ['from = "a"\nto = "b"\nloss = { max = "0%", count = 5 }'] * 4
)
assert len(MIXED) == 50

# Expectations that wait out their whole timeout: 16 (check.worker_count's floor), then
# 24 (3 nodes x PER_NODE 8): each set runs at once, one round of timeouts.
FAILING = (16, 24)


def lab_text(body: str, name: str, expects: list[str]) -> str:
    return body.replace("{name}", name) + "".join(f"\n[[expect]]\n{x}\n" for x in expects)


def natgw_text(name: str) -> str:
    text = (REPO / "topologies" / "natgw.toml").read_text()
    return text.replace('name = "natgw"', f'name = "{name}"', 1)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    times, last = [], None
    for _ in range(runs):
        start = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), last


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


NO_FAST = {"NETLAB_NO_FAST": "1"}  # netlab/cli/fast.py off: typer runs every verb


def netlab(*args: str, tree: Path | None = None, env: dict[str, str] | None = None,
           python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """`netlab ARGS` in a new Python; `tree`: a directory holding another netlab package;
    `env`: more environment; `python`: these arguments to Python in place of `-m netlab`."""
    full = {**os.environ, **(env or {})}
    if tree is not None:
        full["PYTHONPATH"] = str(tree)
    # `python -m` puts the working directory first on sys.path: run the baseline in its
    # own tree, or a checkout's netlab would shadow it.
    argv = [sys.executable, *(python or ["-m", "netlab", *args])]
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=full,
                          cwd=tree)


def cli_times(args: list[str], runs: int, tree: Path | None = None,
              env: dict[str, str] | None = None, python: list[str] | None = None
              ) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `runs` runs of `netlab ARGS` (each must exit 0)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _child_cpu(), time.perf_counter()
        r = netlab(*args, tree=tree, env=env, python=python)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu)
        assert r.returncode == 0, f"netlab {' '.join(args)}:\n{r.stdout}{r.stderr}"
    return walls, cpus


def in_turns(variants: dict[str, dict[str, object]], runs: int
             ) -> dict[str, tuple[list[float], list[float]]]:
    """Each variant (cli_times' keyword arguments) run once per round, `runs` rounds: all
    see the same load, on a machine whose load changes from one second to the next."""
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in variants}
    for _ in range(runs):
        for what, kw in variants.items():
            walls, cpus = cli_times(runs=1, **kw)  # type: ignore[arg-type]
            out[what][0].extend(walls)
            out[what][1].extend(cpus)
    return out


def line(what: str, best: float, median: float, target: float | None) -> None:
    ratio = f"  {median / target:.2f} x target {target:g} s" if target else ""
    print(f"{what:<46} best {best:6.3f} s  median {median:6.3f} s{ratio}")


def cli_line(what: str, walls: list[float], cpus: list[float], target: float) -> None:
    line(what, min(walls), statistics.median(walls), target)
    print(f"{'':<46} CPU  {min(cpus):6.3f} s  median {statistics.median(cpus):6.3f} s")


def _private_bytecode() -> str | None:
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return None
    cache = tempfile.mkdtemp(prefix="netlab-bench-pyc-")
    os.environ["PYTHONPYCACHEPREFIX"] = cache
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    return cache


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--baseline", type=Path, help="a directory holding another netlab"
                    " package, timed in turns with this one (netlab check NAME)")
    args = ap.parse_args()
    if args.baseline is not None and not (args.baseline / "netlab" / "cli").is_dir():
        ap.error(f"--baseline {args.baseline}: no netlab package in it")
    from netlab import api

    cache = _private_bytecode()
    token = secrets.token_hex(3)
    names = {"natgw": f"bn{token}", "mixed": f"bm{token}",
             **{f"fail{n}": f"bf{n}{token}" for n in FAILING}}
    work = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    files = {
        "natgw": natgw_text(names["natgw"]),
        "mixed": lab_text(MIXED_LAB, names["mixed"], MIXED),
        **{f"fail{n}": lab_text(MIXED_LAB, names[f"fail{n}"], [
            'from = "a"\nto = "10.81.2.99"\ntimeout = 1.0' if k % 2 else
            'from = "a"\nto = "10.81.2.99"\nproto = "tcp"\nport = 80\ntimeout = 1.0'
            for k in range(n)]) for n in FAILING},
    }
    deployed = []
    try:
        for key, text in files.items():
            path = work / f"{names[key]}.toml"
            path.write_text(text)
            r = netlab("deploy", str(path), "--check")
            deployed.append(names[key])
            if r.returncode != 0 and not key.startswith("fail"):
                print(f"deploy --check of {key} failed:\n{r.stdout}{r.stderr}",
                      file=sys.stderr)
                return 1
        # a) natgw
        natgw = names["natgw"]
        cli_times(["check", natgw], 1)  # bytecode cached, page cache warm
        cli_times(["check", natgw], 1, env=NO_FAST)
        variants: dict[str, dict[str, object]] = {
            "a) floor: `python3 -c pass`": {"args": [], "python": ["-c", "pass"]},
            "a) natgw: `netlab check NAME` (new process)": {"args": ["check", natgw]},
            "a) the same, typer's way (NETLAB_NO_FAST=1)": {"args": ["check", natgw],
                                                           "env": NO_FAST},
        }
        if args.baseline is not None:
            cli_times(["check", natgw], 1, args.baseline)
            variants["a) baseline tree: `netlab check NAME`"] = {
                "args": ["check", natgw], "tree": args.baseline}
        timings = in_turns(variants, args.runs)
        for what, (walls, cpus) in timings.items():
            cli_line(what, walls, cpus, 0.3)
        now = timings["a) natgw: `netlab check NAME` (new process)"]
        floor = statistics.median(timings["a) floor: `python3 -c pass`"][0])
        print(f"{'':<46} netlab's own part (median - floor): "
              f"{statistics.median(now[0]) - floor:.3f} s")
        for short, what in (("typer's way", "a) the same, typer's way (NETLAB_NO_FAST=1)"),
                            ("baseline", "a) baseline tree: `netlab check NAME`")):
            if what in timings:
                then = timings[what]
                print(f"{'':<46} this / {short}: wall "
                      f"{statistics.median(now[0]) / statistics.median(then[0]):.2f}, CPU "
                      f"{statistics.median(now[1]) / statistics.median(then[1]):.2f}")
        cli_line("a) natgw: `netlab check FILE` (compiles it)",
                 *cli_times(["check", str(work / f"{natgw}.toml")], args.runs), 0.3)
        best, med, rep = timed(lambda: api.check(natgw), args.runs)
        assert rep.ok, rep  # type: ignore[attr-defined]
        line("a) natgw: api.check (in-process)", best, med, 0.3)
        # b) 50 mixed, all pass
        best, med, rep = timed(lambda: api.check(names["mixed"]), args.runs)
        bad = [(r.title, r.seen) for r in rep if not r.passed]  # type: ignore[attr-defined]
        if bad:
            print(f"b) not all passed: {bad}", file=sys.stderr)
            return 1
        line("b) 50 mixed kinds, all pass (in-process)", best, med, 1.0)
        best, med, res = timed(lambda: netlab("check", names["mixed"]), args.runs)
        line("b) 50 mixed kinds: `netlab check NAME`", best, med, 1.0)
        # c) failures, each waiting its 1 s timeout
        for n in FAILING:
            best, med, rep = timed(lambda n=n: api.check(names[f"fail{n}"]), args.runs)
            assert not any(r.passed for r in rep)  # type: ignore[attr-defined]
            line(f"c) {n} failures of timeout 1 s, in parallel", best, med, 1.0)
        print("   (serially they would take 16 s / 24 s or more)")
    finally:
        for name in deployed:
            netlab("destroy", name)
        shutil.rmtree(work, ignore_errors=True)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
