"""The shared test support (tests/support): root marking and skipping, names of this
run, the lab tracker's refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import host
from tests.support.deploy import Labs
from tests.support.names import is_ours, run_prefix, unique_name

INNER = """
import pytest

def test_pure():
    pass

def test_uses_labs(labs):
    raise AssertionError("must not run without root")

@pytest.mark.root
def test_marked():
    raise AssertionError("must not run without root")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_inner=INNER)
    pytester.makeini("[pytest]\nmarkers =\n    root: needs root\n")
    return pytester


def test_without_root_root_tests_are_skipped_with_the_reason(
        inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = inner.runpytest_inprocess("-p", "tests.support.plugin", "-rs", "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1, skipped=2)
    assert r.stdout.str().count("needs root (network namespaces)") == 2


def test_not_root_selects_the_pure_tests_only(inner: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    r = inner.runpytest_inprocess("-p", "tests.support.plugin", "-m", "not root",
                                  "-p", "no:cacheprovider")
    r.assert_outcomes(passed=1, deselected=2)


def test_as_root_a_root_test_runs(inner: pytest.Pytester,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    r = inner.runpytest_inprocess("-p", "tests.support.plugin", "-k", "marked",
                                  "-p", "no:cacheprovider")
    r.assert_outcomes(failed=1, deselected=2)  # it ran: its AssertionError shows


def test_names_of_this_run_and_only_they_are_ours() -> None:
    assert is_ours(unique_name("t"))
    assert is_ours(run_prefix("t5") + "x") and is_ours(run_prefix("t3"))
    assert not is_ours("t5x") and not is_ours("lan4") and not is_ours("tzzzzzzzzzzz")


def test_labs_refuse_a_fixed_name(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="not a name of this run"):
        Labs(tmp_path).write("t5fixed", "")


def test_force_clean_refuses_a_lab_of_someone_else() -> None:
    with pytest.raises(AssertionError, match="not cleaning|t5other"):
        host.force_clean("t5other")


def test_host_lock_is_shared_by_root_tests_and_exclusive_for_host_exclusive_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock that lets root tests run side by side (pytest-xdist) but a
    `host_exclusive` test alone (tests/support/plugin.py), checked with flock itself."""
    import fcntl

    from tests.support import plugin

    monkeypatch.setattr(plugin, "HOST_LOCK", str(tmp_path / "lock"))
    monkeypatch.setattr(plugin, "HOST_GATE", str(tmp_path / "gate"))

    def other(mode: int) -> bool:
        """Whether another holder could take the lock in `mode` now."""
        fd = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    mine = plugin._HostLock()
    mine.hold(fcntl.LOCK_SH)
    assert other(fcntl.LOCK_SH) and not other(fcntl.LOCK_EX)
    mine.hold(fcntl.LOCK_EX)  # a change of mode lets go first, then takes the new one
    assert not other(fcntl.LOCK_SH) and not other(fcntl.LOCK_EX)
    mine.release()
    assert other(fcntl.LOCK_EX)


def test_plan_from_keeps_a_unique_name_that_starts_like_a_run_prefix() -> None:
    """unique_name("t") starts with "t3" one time in 16: plan_from must not rename it (the
    lab deployed by that name would then not be the one the fixture destroys), while a
    hand-written "t3..." name still becomes this run's."""
    from tests.support.compile import plan_from

    text = "[lab]\nname = \"x\"\n[nodes.a]\n"
    name = ""
    while not name.startswith("t3"):
        name = unique_name("t")
    assert plan_from(text, name).lab == name
    assert plan_from(text, "t3exec").lab == (run_prefix("t3") + "exec")[:12]


def test_host_order_runs_exclusive_files_beside_pure_ones_and_slow_files_early() -> None:
    """The order xdist hands files out in (plugin.host_order): each file with a
    host_exclusive test followed by three pure files, slow files first in their group,
    tests kept together and in their order."""
    from types import SimpleNamespace

    from tests.support.plugin import host_order

    def item(nodeid: str, *marks: str) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid,
                               get_closest_marker=lambda name: name if name in marks else None)

    items = [item("p1.py::a"), item("r1.py::a", "root"), item("x1.py::a", "root"),
             item("x1.py::b", "root", "host_exclusive"), item("p2.py::a"),
             item("r2.py::a", "root", "slow"), item("p3.py::a", "slow"), item("p4.py::a"),
             item("p5.py::a"), item("r1.py::b", "root")]
    order = [i.nodeid for i in host_order(items)]  # type: ignore[arg-type]
    assert order == ["x1.py::a", "x1.py::b", "p3.py::a", "p1.py::a", "p2.py::a",
                     "r2.py::a", "r1.py::a", "r1.py::b", "p4.py::a", "p5.py::a"]
