"""What the web view imports: never the kernel backend nor namespace code (it reads the
machine through the Backend protocol, as probes do), and `netlab --help` imports none of
it (nor aiohttp)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import netlab.web
from tests.support import REPO

WEB = Path(netlab.web.__file__).parent
FORBIDDEN = ("netlab.backends.kernel", "netlab.linux", "netlab.state")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_web_reaches_the_machine_only_through_the_backend() -> None:
    files = sorted(WEB.rglob("*.py")) + [REPO / "netlab" / "cli" / "web.py"]
    offenders = {str(p.relative_to(REPO)): sorted(m for m in _imports(p)
                                                  if m.startswith(FORBIDDEN))
                 for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_help_imports_no_web_library() -> None:
    code = ("import sys; sys.argv = ['netlab', '--help']\n"
            "from netlab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('aiohttp', 'scapy', 'pyroute2') or m.startswith('netlab.web'))\n"
            "print('IMPORTED', bad, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert "IMPORTED []" in done.stderr, done.stderr
    assert " web " in done.stdout  # the verb is listed


def test_the_graph_library_ships_inside_the_package() -> None:
    """Nothing is fetched at run time: the page loads only files of the package."""
    page = (WEB / "static" / "index.html").read_text()
    scripts = [s.split('"')[0] for s in page.split('src="')[1:]]
    assert scripts and all(s.startswith("/static/") for s in scripts)
    for s in scripts:
        assert (WEB / s.removeprefix("/")).is_file(), s
    for lib in ("cytoscape", "cytoscape-fcose", "cose-base", "layout-base"):
        assert (WEB / "static" / "vendor" / f"{lib}.LICENSE").is_file()
    assert "http" not in page.replace("http-equiv", "")


def test_a_missing_browser_is_said(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The browser tests skip with this reason where chromium is not installed."""
    from tests.web import browser

    monkeypatch.setattr(browser, "CHROMIUM", ("/nonexistent/chromium",))
    monkeypatch.setenv("PATH", "/nonexistent")
    why = browser.missing()
    assert why is not None and "apt-get install chromium" in why
