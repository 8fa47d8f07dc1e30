"""Figures for docs/classroom.md: `class up` / `class grade` / `class down` of N copies
of a small lab (lan4, 5 namespaces) and of a 10-node lab (2 routers, 8 hosts on 2
switches: 12 namespaces), with 1, 2 and 4 workers; memory per copy from MemAvailable.
`--grades N` grades the class N times in a row; `--broken` first takes one copy's link
down (a wrong lab: it must be the only copy short of full marks). Every grading that is
not full marks prints what failed, and the host's neighbour-table overflows during it
(`ip -s ntable`: table_fulls), which is what made healthy copies fail before.

    sudo python3 scripts/bench_class.py [--copies 30] [--workers 1,2,4] [--lab ten|lan4]
                                        [--grades 5] [--broken]
"""

from __future__ import annotations

import argparse
import collections
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.classroom.grade import Grade

TEN = """[lab]
name = "ten"
description = "two routers, eight hosts on two switches"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[switches.sa]
[switches.sb]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r1", "sa"]
[[links]]
endpoints = ["r2", "sb"]
""" + "".join(f'[nodes.h{i}]\n[[links]]\nendpoints = ["h{i}", "s{"a" if i <= 4 else "b"}"]\n'
              for i in range(1, 9)) + """
[[expect]]
from = "h1"
to = "h8"
[[expect]]
from = "h2"
to = "h5"
[[expect]]
from = "h4"
to = "h3"
[[expect]]
from = "h6"
to = "r1"
"""


def available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def table_fulls() -> int:
    """Times the host's ARP table was full (one table for every namespace)."""
    out = subprocess.run(["ip", "-s", "-4", "ntable", "show", "name", "arp_cache"],
                         capture_output=True, text=True).stdout
    m = re.search(r"table_fulls (\d+)", out)
    return int(m.group(1)) if m else 0


def break_copy(lab: str) -> str:
    """The first expectation's target node in copy `lab` cut off: its first interface
    down, with the kernel's `ip`. Returns what was done."""
    from netlab.lab import Lab

    plan = Lab.attach(lab).plan
    node = plan.node(plan.expect[0].to or "")
    iface = node.interfaces[0].name
    subprocess.run(["ip", "-n", node.netns, "link", "set", iface, "down"], check=True)
    return f"{lab}: {node.name} {iface} down"


def failures(grades: list[Grade]) -> str:
    seen: collections.Counter[str] = collections.Counter()
    for g in grades:
        for r in (g.report.failed if g.report is not None else []):
            seen[f"{r.title}: {r.seen}"] += 1
        if g.report is None:
            seen[g.error] += 1
    return "".join(f"\n    {n} x {text}" for text, n in seen.most_common(8))


def main() -> None:
    from netlab.classroom import deploy, grade, roster

    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=30)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--lab", default="ten")
    ap.add_argument("--grades", type=int, default=1)
    ap.add_argument("--broken", action="store_true")
    a = ap.parse_args()
    src = a.lab
    if a.lab == "ten":
        f = Path(tempfile.mkdtemp()) / "ten.toml"
        f.write_text(TEN)
        src = str(f)
    for w in (int(x) for x in a.workers.split(",")):
        cls = "b" + secrets.token_hex(2)
        mem0 = available_kib()
        res = deploy.up(src, roster.numbered(a.copies), name=cls, workers=w)
        try:
            per_copy = (mem0 - available_kib()) / a.copies
            cut = res.rec.labs()[0] if a.broken else ""
            broken = break_copy(cut) if cut else ""
            runs = []
            for _ in range(a.grades):
                fulls, t = table_fulls(), time.perf_counter()
                _, grades = grade.grade_class(cls)
                graded = time.perf_counter() - t
                ok = sum(g.report is not None and g.report.ok for g in grades)
                runs.append(f"{graded:.2f} s ({ok}/{a.copies} full marks)")
                fulls = table_fulls() - fulls
                wrong = [g for g in grades if g.lab != cut
                         and (g.report is None or not g.report.ok)]
                if wrong or fulls:
                    print(f"  grading {len(runs)}: {runs[-1]}, ARP table full {fulls}"
                          f" times{failures(wrong)}")
                if cut:
                    print(f"  grading {len(runs)}: broken copy ({broken}):"
                          f"{failures([g for g in grades if g.lab == cut]) or ' FULL MARKS'}")
        finally:
            t = time.perf_counter()
            deploy.down(cls, workers=w)
            down = time.perf_counter() - t
        print(f"{a.lab}: {a.copies} copies, {res.namespaces} namespaces, workers {w}: up"
              f" {res.seconds:.2f} s, graded {' / '.join(runs)}, down {down:.2f} s,"
              f" ~{per_copy / 1024:.1f} MiB per copy")


if __name__ == "__main__":
    main()
