"""Figures for docs/classroom.md: `class up` / `class grade` / `class down` of N copies
of a small lab (lan4, 5 namespaces) and of a 10-node lab (2 routers, 8 hosts on 2
switches: 12 namespaces), with 1, 2 and 4 workers; memory per copy from MemAvailable.

    sudo python3 scripts/bench_class.py [--copies 30] [--workers 1,2,4] [--lab ten|lan4]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    from netlab.classroom import deploy, grade, roster

    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=30)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--lab", default="ten")
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
        per_copy = (mem0 - available_kib()) / a.copies
        t = time.perf_counter()
        _, grades = grade.grade_class(cls)
        graded = time.perf_counter() - t
        ok = sum(g.report is not None and g.report.ok for g in grades)
        t = time.perf_counter()
        deploy.down(cls, workers=w)
        down = time.perf_counter() - t
        print(f"{a.lab}: {a.copies} copies, {res.namespaces} namespaces, workers {w}: up"
              f" {res.seconds:.2f} s, graded {graded:.2f} s ({ok}/{a.copies} full marks),"
              f" down {down:.2f} s, ~{per_copy / 1024:.1f} MiB per copy")


if __name__ == "__main__":
    main()
