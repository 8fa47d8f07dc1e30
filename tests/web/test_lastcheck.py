"""The last check of a lab (netlab/state/lastcheck.py, api.last_check): `netlab check`
records it in the lab's state, the web view shows it (GET .../check, origin "cli")."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netlab.state import lastcheck
from netlab.state.layout import StateError
from tests.support.cli import run
from tests.web.shared import CHAIN_LAB

if TYPE_CHECKING:
    from netlab.plan.model import Plan

REPORT = {"lab": "lc1", "ok": True, "elapsed_s": 0.1, "results": []}


def test_written_whole_private_and_read_back(run_dir: Path) -> None:
    d = run_dir / "lc1"
    d.mkdir(mode=0o700)
    record = lastcheck.write("lc1", REPORT, "cli")
    assert record is not None and record["origin"] == "cli"
    assert lastcheck.read("lc1") == record
    st = os.lstat(d / lastcheck.LAST_CHECK_FILE)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert sorted(os.listdir(d)) == [lastcheck.LAST_CHECK_FILE]  # no temporary left
    newer = lastcheck.write("lc1", REPORT | {"ok": False}, "web")
    assert newer is not None and lastcheck.read("lc1") == newer


def test_no_lab_directory_no_record(run_dir: Path) -> None:
    """A check racing a destroy must not bring the lab's directory back."""
    assert lastcheck.write("lc2", REPORT, "cli") is None
    assert not (run_dir / "lc2").exists()
    assert lastcheck.read("lc2") is None


def test_symlinks_are_never_followed(run_dir: Path, tmp_path: Path) -> None:
    d = run_dir / "lc3"
    d.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (d / lastcheck.LAST_CHECK_FILE).symlink_to(victim)
    with pytest.raises(StateError, match="symbolic link"):
        lastcheck.read("lc3")
    lastcheck.write("lc3", REPORT, "cli")  # replaces the link itself
    assert victim.read_text() == "keep me"
    assert not (d / lastcheck.LAST_CHECK_FILE).is_symlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run_dir / "lc4").symlink_to(elsewhere)  # a lab directory that is a link
    with pytest.raises(StateError):
        lastcheck.write("lc4", REPORT, "cli")
    assert list(elsewhere.iterdir()) == []


def test_a_damaged_record_is_no_record(run_dir: Path) -> None:
    d = run_dir / "lc5"
    d.mkdir(mode=0o700)
    for text in ("{", "[]", json.dumps({"format": 1, "at": "x", "origin": "cli",
                                        "report": REPORT}),
                 json.dumps({"format": 1, "at": 1.0, "origin": "mars", "report": REPORT})):
        (d / lastcheck.LAST_CHECK_FILE).write_text(text)
        assert lastcheck.read("lc5") is None, text
    with pytest.raises(ValueError):
        lastcheck.write("lc5", REPORT, "mars")


# --- on a deployed lab: the CLI's check in the page's JSON ------------------------------

LAB = CHAIN_LAB


@pytest.fixture(scope="module")
def lab(deploy) -> Plan:  # type: ignore[no-untyped-def]
    return deploy(LAB)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


@pytest.mark.root
def test_a_check_from_the_cli_shows_in_the_page_json(lab: Plan) -> None:
    from netlab.plan import wires
    from netlab.web.server import Background, make_app
    from netlab.web.source import ApiSource
    from netlab.web.view import edge_id

    server = Background(make_app(ApiSource(), "test-token"))
    try:
        base = f"{server.url}api/labs/{lab.lab}/check"
        assert _get(base) == {"check": None}
        done = run("check", "--lab", lab.lab, "--json", env=dict(os.environ), timeout=120)
        assert done.returncode == 1, done.stderr  # tcp/9: nothing listens
        printed = json.loads(done.stdout)
        record = lastcheck.read(lab.lab)
        assert record is not None and record["origin"] == "cli"
        assert record["report"] == printed  # the same content `check --json` prints
        shown = _get(base)["check"]
        assert shown["origin"] == "cli" and shown["at"] == record["at"]
        ok, bad = shown["results"]
        assert ok["passed"] and not bad["passed"] and bad["seen"] == printed[
            "results"][1]["seen"]
        # Its paths, traced when the page asked: a -> r -> b, closed port answered at b.
        assert ok["path"]["nodes"] == ["a", "r", "b"]
        assert ok["path"]["edges"] == [edge_id(wires.find(lab, "a", "r").index),
                                       edge_id(wires.find(lab, "r", "b").index)]
        assert bad["path"]["stopped_at"] == "b"
    finally:
        server.stop()
