#!/usr/bin/env python3
"""A screenshot of the web view of each bundled lab, to look at (not committed).

    sudo python3 scripts/web_screenshots.py [-o DIR] [--plans-only] [NAME ...]

Each bundled lab (`netlab labs`; or those NAMEd) is deployed under a unique name, shown
by the real server (netlab.web) in Debian's headless chromium, checked (the Check
button: expectation paths green/red on the graph), photographed as DIR/NAME.png, and
destroyed. --plans-only: no deploy, no root (the graph from the compiled plan, no check).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="bundled labs (default: all)")
    ap.add_argument("-o", "--out", type=Path, default=Path("web-screenshots"))
    ap.add_argument("--plans-only", action="store_true")
    a = ap.parse_args()

    from netlab.api import load
    from netlab.lab import Lab
    from netlab.topology.library import bundled
    from netlab.web.server import Background, make_app
    from netlab.web.source import ApiSource, PlanSource
    from tests.support.names import renamed_copy
    from tests.web.browser import Browser, missing

    if (why := missing()) is not None:
        raise SystemExit(f"no browser: {why}")
    labs = [b for b in bundled() if not a.names or b.name in a.names]
    a.out.mkdir(parents=True, exist_ok=True)
    browser = Browser()
    try:
        for b in labs:
            with tempfile.TemporaryDirectory() as d:
                shot = a.out / f"{b.name}.png"
                if a.plans_only:
                    plan = load(b.path).plan
                    server = Background(make_app(PlanSource([plan]), "shots"))
                    lab_name, lab = plan.lab, None
                else:
                    lab_name = "ws" + secrets.token_hex(4)
                    try:
                        lab = Lab.deploy(renamed_copy(b.path, lab_name, Path(d), lab_name))
                    except Exception as e:  # say it, go on with the others
                        print(f"{b.name}: not deployed: {e}", file=sys.stderr)
                        continue
                    server = Background(make_app(ApiSource(), "shots"))
                try:
                    browser.open(server.url, lab_name, timeout=60)
                    if lab is not None and lab.plan.expect:
                        browser.js("document.getElementById('check').click()")
                        browser.until(lambda: browser.js(
                            "return document.querySelectorAll('#expect li').length"), 120)
                    time.sleep(0.5)
                    browser.driver.save_screenshot(str(shot))
                    print(f"{b.name}: {shot}")
                finally:
                    server.stop()
                    if lab is not None:
                        lab.destroy()
    finally:
        browser.close()


if __name__ == "__main__":
    main()
