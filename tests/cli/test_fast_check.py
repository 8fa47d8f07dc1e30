"""`netlab check` run before typer is imported (netlab/cli/fast.py, issue 13 item 6) must
say exactly what the typer verb says, with the same exit code: each command line here is
run both ways (NETLAB_NO_FAST=1 forces typer) against real labs and the outputs compared
byte for byte, once the durations they print are blanked. And the fast path must be the
one taken: without typer, and reading the saved plan without pydantic."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.cli.fast import NO_FAST_ENV
from tests.support.deploy import Labs

root = pytest.mark.root

# Kinds whose "seen" text holds no duration (address, TCP RST), so that the tables of two
# runs are the same bytes: only the summary's "in 0.02 s" differs, and is blanked.
LAB = """
[lab]
name = "{name}"
within = "0s"
[nodes.h1]
[nodes.h2]
[[links]]
endpoints = ["h1", "h2"]
subnet = "192.168.71.0/30"
[[expect]]
from = "h1"
address = { dev = "eth0", ip = "192.168.71.1/30" }
[[expect]]
from = "h1"
to = "h2"
proto = "tcp"
port = 22
state = "closed"
"""
FAILING = LAB + """
[[expect]]
from = "h2"
address = { dev = "eth0", ip = "192.168.71.9/30" }
points = 2
hint = "h2 has another address"
"""


def netlab(*args: str, fast: bool = True, flags: tuple[str, ...] = (),
           run_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if run_dir is not None:  # labs deployed elsewhere (other tests') stay out of messages
        env["NETLAB_RUN_DIR"] = str(run_dir)
    env.pop(NO_FAST_ENV, None)
    if not fast:
        env[NO_FAST_ENV] = "1"
    return subprocess.run([sys.executable, *flags, "-m", "netlab", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def blank(text: str) -> str:
    """Durations blanked: the rest must be the same bytes."""
    text = re.sub(r"\b\d+\.\d+ s\b", "T s", text)
    text = re.sub(r'"elapsed_s": [0-9.e-]+', '"elapsed_s": T', text)
    text = re.sub(r'\b(time|timestamp)="[^"]*"', r'\1="T"', text)
    return text


def both(*args: str, run_dir: Path | None = None) -> tuple[int, str, str]:
    """Run `netlab ARGS` the fast way and typer's way: the same code and output, returned."""
    fast, slow = netlab(*args, run_dir=run_dir), netlab(*args, fast=False, run_dir=run_dir)
    assert (fast.returncode, blank(fast.stdout), blank(fast.stderr)) == \
        (slow.returncode, blank(slow.stdout), blank(slow.stderr)), args
    return fast.returncode, fast.stdout, fast.stderr


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labs]:
    if os.geteuid() != 0:
        pytest.skip("needs root (deploys labs)")
    labs = Labs(tmp_path_factory.mktemp("fast"))
    try:
        yield labs
    finally:
        assert not labs.cleanup()


def settled(name: str, passed: int) -> str:
    """The lab once its probes see what they will see in every run (a probe right after
    deploy may still miss its answer): the two ways must be compared on the same lab."""
    from netlab import api

    for _ in range(20):
        report = api.check(name)
        if sum(r.passed for r in report) == passed:
            return name
    raise AssertionError(f"lab {name} never settled: {[(r.title, r.seen) for r in report]}")


@pytest.fixture(scope="module")
def passing(box: Labs) -> str:
    return settled(box.lab(LAB).lab, 2)


@pytest.fixture(scope="module")
def failing(box: Labs) -> str:
    return settled(box.lab(FAILING).lab, 2)


@root
def test_a_passing_check_says_the_same(passing: str, box: Labs) -> None:
    code, out, err = both("check", passing)
    assert code == 0 and err == ""
    assert "2/2 expectations passed" in out and "RST from h2" in out
    assert both("check", "--lab", passing)[0] == 0
    assert both("check", "-l", passing, passing)[0] == 0
    # A topology file: compiled and compared with the deployed plan (pydantic's plans).
    assert both("check", str(box.tmp / f"{passing}.toml"))[0] == 0


@root
def test_a_failing_check_says_the_same(failing: str) -> None:
    code, out, _ = both("check", failing)
    assert code == 1
    assert "FAIL" in out and "hint: h2 has another address" in out and "score: 2/4" in out


@root
def test_json_is_the_same(passing: str, failing: str) -> None:
    code, out, _ = both("check", passing, "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = both("check", "--json", failing)
    assert code == 1 and json.loads(out)["passed"] == 2


@root
def test_junit_file_is_the_same(failing: str, tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.xml", tmp_path / "slow.xml"
    a, b = netlab("check", failing, "--junit", str(fast)), \
        netlab("check", failing, "--junit", str(slow), fast=False)
    assert (a.returncode, blank(a.stdout), a.stderr) == (b.returncode, blank(b.stdout),
                                                         b.stderr) == (1, blank(a.stdout), "")
    assert blank(fast.read_text()) == blank(slow.read_text())
    assert "<failure" in fast.read_text()
    # An output file that cannot be written: refused before any probe, the same words.
    code, _, err = both("check", failing, "--junit", str(tmp_path / "no" / "such.xml"))
    assert code == 2 and "--junit" in err


@root
def test_errors_are_the_same(passing: str, tmp_path: Path) -> None:
    code, _, err = both("check", "tnosuchlab99")  # no such lab, no such bundled lab
    assert code == 2 and "tnosuchlab99" in err
    # The messages list the deployed labs: none, in a state directory of this test's own.
    code, _, err = both("check", "--lab", "tnosuchlab99", run_dir=tmp_path)
    assert code == 2 and "not deployed (deployed labs: none)" in err, err
    code, _, err = both("check", run_dir=tmp_path)
    assert code == 2 and "no lab is deployed" in err, err
    # Bad arguments: typer's own messages (the fast path leaves them to typer).
    for args in (["--bogus"], ["--lab"], [passing, "extra"], [passing, "--timeout", "1"]):
        code, _, err = both("check", *args)
        assert code == 2 and ("Usage:" in err or "requires an argument" in err), (args, err)
    # Command lines the fast path leaves to typer too, whatever typer makes of them.
    for args in (["--json", "--json", passing], ["--lab=" + passing], ["--junit", ""],
                 ["--", passing], ["-l" + passing]):
        both("check", *args)


def test_help_is_the_same() -> None:
    for args in (["check", "--help"], ["check", "-h"], ["check", "x", "--help"], ["--help"]):
        code, out, err = both(*args)
        assert code == 0 and "Usage:" in out, (args, err)


@root
def test_the_fast_path_needs_neither_typer_nor_pydantic(passing: str) -> None:
    """Right after deploy (its plan cached by deploy) and after: the modules whose import
    made `netlab check NAME` slow are not imported; typer's way imports them."""
    for _ in range(2):
        r = netlab("check", passing, flags=("-X", "importtime"))
        assert r.returncode == 0, r.stderr
        imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines()}
        assert not {"typer", "pydantic", "netlab.plan.model"} & imported
    r = netlab("check", passing, fast=False, flags=("-X", "importtime"))
    assert {"typer", "pydantic"} <= {line.split("|")[-1].strip()
                                    for line in r.stderr.splitlines()}
