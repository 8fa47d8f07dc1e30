"""Every invalid topology in tests/invalid is rejected with exactly its golden message.

One file per kind of problem; tests/golden/invalid/<case>.txt holds the exact stderr of
`netlab validate tests/invalid/<case>.toml`.
"""

from __future__ import annotations

import pytest

from netlab.api import load
from netlab.errors import TopologyError
from tests.support import REPO
from tests.support.cli import netlab
from tests.support.golden import GOLDEN, check

CASES = sorted(p.stem for p in (REPO / "tests" / "invalid").glob("*.toml"))
WARNINGS_ONLY = {"disconnected"}  # valid files whose warnings are still worth a golden


def test_there_is_a_case_for_each_required_kind() -> None:
    required = {
        "toml-syntax", "unknown-key", "unknown-endpoint", "duplicate-interface",
        "name-collision", "bad-names", "ifname-too-long", "bad-cidr", "bad-address",
        "address-outside-subnet", "duplicate-address", "overlapping-subnets",
        "pool-exhausted", "gateway", "nat-interface", "expect-unknown-node",
        "switch-to-switch", "disconnected", "many-problems",
    }
    # Both directories on disk, not CASES (derived from one of them) against itself.
    inputs = {p.stem for p in (REPO / "tests" / "invalid").glob("*.toml")}
    assert required <= inputs, f"no tests/invalid/<case>.toml for {sorted(required - inputs)}"


def test_every_invalid_input_has_a_golden_and_every_golden_an_input() -> None:
    """tests/invalid/<case>.toml <-> tests/golden/invalid/<case>.txt, both ways (the
    input-*.txt goldens belong to test_inputs.py, whose inputs are made at run time)."""
    inputs = {p.stem for p in (REPO / "tests" / "invalid").glob("*.toml")}
    goldens = {p.stem for p in (GOLDEN / "invalid").glob("*.txt")
               if not p.stem.startswith("input-")}
    assert inputs - goldens == set(), "inputs without a golden (NETLAB_UPDATE_GOLDEN=1)"
    assert goldens - inputs == set(), "goldens without an input: stale, remove them"


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_golden_problems(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = netlab(monkeypatch, "validate", f"tests/invalid/{case}.toml")
    check(GOLDEN / "invalid" / f"{case}.txt", run.stderr)
    assert "Traceback" not in run.stderr
    if case in WARNINGS_ONLY:
        assert run.code == 0
        assert run.stdout.startswith(f"tests/invalid/{case}.toml: lab ")
        assert "warning: " in run.stderr and "error: " not in run.stderr
    else:
        assert run.code == 2
        assert run.stdout == ""
        # Every problem names the file and a key path (or the whole file), and a fix.
        lines = run.stderr.splitlines()
        problems = [x for x in lines if x.startswith(("error: ", "warning: "))]
        assert problems
        for x in problems:
            assert x.split(": ", 2)[1].startswith(f"tests/invalid/{case}.toml")
        assert sum(x.startswith("  fix: ") for x in lines) == len(problems)
        assert lines[-1].endswith("nothing was built") or lines[-1].startswith("(more")


@pytest.mark.parametrize("verb", ["plan", "graph"])
def test_other_verbs_report_the_same_problems(verb: str, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path) -> None:
    extra = ["-o", str(tmp_path / "g.dot")] if verb == "graph" else []
    run = netlab(monkeypatch, verb, "tests/invalid/many-problems.toml", *extra)
    assert run.code == 2
    assert run.stderr == (GOLDEN / "invalid" / "many-problems.txt").read_text()
    assert not (tmp_path / "g.dot").exists()


def test_many_problems_are_all_reported() -> None:
    with pytest.raises(TopologyError) as info:
        load(REPO / "tests" / "invalid" / "many-problems.toml")
    paths = {p.path for p in info.value.problems if p.severity == "error"}
    # Structural (unknown key) and semantic problems of every stage, in one run.
    assert {
        "lab.descripton", 'nodes."web server"', "nodes.gw.nat.masquerade[0]",
        "nodes.pc1.gateway", "switches.dmz.subnet", "links[0].addresses[0]",
        "links[2].endpoints[0]", "links[3].addresses[0]", "links[4].endpoints",
        "links[5].endpoints[1]", "expect[0].from",
    } <= paths
    assert len(paths) >= 11


def test_problems_are_in_file_order() -> None:
    with pytest.raises(TopologyError) as info:
        load(REPO / "tests" / "invalid" / "many-problems.toml")
    heads = [p.path.split(".")[0].split("[")[0] for p in info.value.problems]
    order = ["lab", "nodes", "switches", "links", "expect"]
    assert [h for h in order if h in heads] == sorted(set(heads), key=order.index)
    links = [p.path for p in info.value.problems if p.path.startswith("links[")]
    assert links == sorted(links, key=lambda x: int(x[6:x.index("]")]))


def test_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    run = netlab(monkeypatch, "validate", "tests/invalid/no-such-file.toml")
    assert run.code == 2
    # the same words as deploy's (topology/library.py resolves both)
    assert run.stderr.startswith("error: tests/invalid/no-such-file.toml: no such topology file")
    assert "Traceback" not in run.stderr


def test_directory_and_binary_files(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    for path in (tmp_path, tmp_path / "bin.toml"):
        run = netlab(monkeypatch, "validate", str(path))
        assert run.code == 2
        assert run.stderr.startswith(f"error: {path}: cannot read the file")
        assert "Traceback" not in run.stderr
