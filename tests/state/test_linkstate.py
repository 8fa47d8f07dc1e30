"""Runtime link changes (netlab.state.linkstate, links.json) are state like the rest:
read never through a symlink, a damaged file is no changes (not a traceback), and the
file is written private, never through a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from netlab.plan.model import ShapingPlan, VethEnd
from netlab.state import linkstate
from netlab.state.layout import RUN_DIR_ENV, StateError

LAB = "tlinkstate"
END = VethEnd(netns="tls-a", ifname="eth0", mtu=1500)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv(RUN_DIR_ENV, str(run))
    (run / LAB).mkdir(mode=0o700)
    return run / LAB


def test_changes_round_trip_privately(lab: Path) -> None:
    linkstate.record(LAB, END, shaping=ShapingPlan(loss_pct=3.0), down=True)
    assert linkstate.shaping(LAB, END) == ShapingPlan(loss_pct=3.0)
    assert linkstate.load(LAB)["tls-a:eth0"]["down"] is True
    assert stat.S_IMODE((lab / linkstate.LINKS_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"x"', "[" * 100_000, '{"tls-a:eth0": 5}'])
def test_a_damaged_file_is_no_changes(lab: Path, text: str) -> None:
    (lab / linkstate.LINKS_FILE).write_text(text)
    assert linkstate.load(LAB) == {}
    assert linkstate.shaping(LAB, END) is None  # the plan's (none here)


def test_symlinks_are_neither_read_nor_written_through(lab: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"tls-a:eth0": {"down": true}}')
    os.symlink(secret, lab / linkstate.LINKS_FILE)
    with pytest.raises(StateError, match="symbolic link"):
        linkstate.load(LAB)
    os.unlink(lab / linkstate.LINKS_FILE)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, lab / (Path(linkstate.LINKS_FILE).stem + ".tmp"))
    with pytest.raises(OSError):
        linkstate.record(LAB, END, down=True)
    assert victim.read_text() == "keep"
