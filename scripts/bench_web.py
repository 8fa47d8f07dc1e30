#!/usr/bin/env python3
"""Benchmark the web view at size: layout time and frame budget in headless Chromium for a
24-host star, a 100-router grid and a 500-host star (and any --shapes), and with --deploy
(root) the server's live sampling of the deployed lab.

    python3 scripts/bench_web.py [--shapes star24 grid100 star500] [--deploy] [--shots DIR]

The page is served from compiled plans (netlab.web.source.PlanSource: nothing deployed)
by the real server, and loaded by Debian's chromium through selenium (tests/web/browser.py).
For each lab:
  layout ms   from the graph's arrival to the end of cytoscape's layout (window.netlabView)
  update ms   applying one live update (every wire's state, rates and label) in the page
  frame ms    mean and 95th percentile of requestAnimationFrame intervals while panning
              and zooming for 2 s (16.7 ms = 60 frames a second; headless, no GPU)
  sample ms   (--deploy) one live.Watch.sample of the deployed lab: a netlink dump per
              namespace plus, when due, Backend.status; the server does one a second
--shots DIR: a screenshot of each lab there (PNG), to look at.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def star_toml(name: str, n: int) -> str:
    out = [f'[lab]\nname = "{name}"\n[switches.s]\nsubnet = "10.64.0.0/16"']
    out += [f"[nodes.h{i}]" for i in range(n)]
    out += [f'[[links]]\nendpoints = ["h{i}", "s"]' for i in range(n)]
    return "\n".join(out) + "\n"


def grid_toml(name: str, n: int) -> str:
    """A k x k grid of routers (k*k = n), /30 links between neighbours, no routing (the
    picture, not the routes, is measured)."""
    k = round(n ** 0.5)
    out = [f'[lab]\nname = "{name}"\nrouting = "none"']
    out += [f'[nodes.r{i}x{j}]\nkind = "router"' for i in range(k) for j in range(k)]
    for i in range(k):
        for j in range(k):
            if j + 1 < k:
                out.append(f'[[links]]\nendpoints = ["r{i}x{j}", "r{i}x{j + 1}"]')
            if i + 1 < k:
                out.append(f'[[links]]\nendpoints = ["r{i}x{j}", "r{i + 1}x{j}"]')
    return "\n".join(out) + "\n"


SHAPES = {"star24": (star_toml, 24), "grid100": (grid_toml, 100),
          "star500": (star_toml, 500)}

FRAMES = """
const done = arguments[arguments.length - 1];
const times = []; let last = performance.now(); const end = last + 2000; let i = 0;
function tick(now) {
  times.push(now - last); last = now; i++;
  cy.panBy({x: 3 * Math.sin(i / 10), y: 2}); cy.zoom(cy.zoom() * (i % 40 < 20 ? 1.01 : 0.99));
  if (now < end) requestAnimationFrame(tick); else done(times);
}
requestAnimationFrame(tick);
"""


def plan_of(shape: str, tmp: Path):  # type: ignore[no-untyped-def]
    from netlab.api import load

    make, n = SHAPES[shape]
    path = tmp / f"{shape}.toml"
    path.write_text(make(shape, n))
    return load(path).plan


def page(shapes: list[str], shots: Path | None) -> list[tuple[str, ...]]:
    from netlab.web.server import Background, make_app
    from netlab.web.source import PlanSource
    from tests.web.browser import Browser, missing

    if (why := missing()) is not None:
        raise SystemExit(f"cannot measure the page: {why}")
    with tempfile.TemporaryDirectory() as d:
        plans = [plan_of(s, Path(d)) for s in shapes]
    server = Background(make_app(PlanSource(plans), "bench"))
    browser = Browser()
    rows = []
    try:
        for p in plans:
            v = browser.open(server.url, p.lab, timeout=120)
            browser.until(lambda: browser.js("return window.netlabView.updates") >= 2)
            update = browser.js("return window.netlabView.applyMs")
            browser.driver.set_script_timeout(30)
            frames = browser.driver.execute_async_script(FRAMES)[1:]
            frames.sort()
            p95 = frames[int(len(frames) * 0.95) - 1]
            rows.append((p.lab, str(v["nodes"]), str(len(p.veths)), v["layout"],
                         str(v["layoutMs"]), f"{update}",
                         f"{statistics.mean(frames):.1f} / {p95:.1f}"))
            if shots is not None:
                browser.js("cy.fit(undefined, 30)")
                time.sleep(0.3)
                browser.driver.save_screenshot(str(shots / f"{p.lab}.png"))
    finally:
        browser.close()
        server.stop()
    return rows


def sampling(shapes: list[str]) -> list[tuple[str, ...]]:
    """Deploy each lab (root), time live sampling and status, destroy it."""
    import secrets

    from netlab.lab import Lab
    from netlab.web.source import ApiSource

    rows = []
    for shape in shapes:
        make, n = SHAPES[shape]
        name = "wb" + secrets.token_hex(4)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "lab.toml"
            path.write_text(make(name, n))
            lab = Lab.deploy(path)
        source = ApiSource()
        try:
            t = time.perf_counter()
            source.sample(name)  # opens the sockets, reads status
            first = time.perf_counter() - t
            times = []
            for _ in range(5):
                time.sleep(0.2)
                t = time.perf_counter()
                source.sample(name)
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            lab.status()
            status = time.perf_counter() - t
            rows.append((shape, f"{first * 1000:.0f}", f"{statistics.median(times) * 1000:.0f}",
                         f"{status * 1000:.0f}"))
        finally:
            source.close()
            lab.destroy()
    return rows


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--deploy", action="store_true", help="also time live sampling (root)")
    ap.add_argument("--shots", type=Path, help="write a screenshot of each lab here")
    a = ap.parse_args()
    if a.shots is not None:
        a.shots.mkdir(parents=True, exist_ok=True)
    print(table(("lab", "nodes", "links", "layout", "layout ms", "update ms",
                 "frame ms mean / p95"), page(a.shapes, a.shots)))
    if a.deploy:
        print()
        print(table(("lab", "first sample ms", "sample ms", "status ms"), sampling(a.shapes)))


if __name__ == "__main__":
    main()
