"""`netlab check FILE` checks the lab the file describes, or refuses (issue 13, item 5):
a file that differs from the deployed lab (exit 2, what differs, how to redeploy), a file
of lab X given `--lab Y`; and validate/plan/graph take a bundled lab's name like deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlab.api import plan_differences
from tests.support.cli import invoke
from tests.support.compile import plan
from tests.support.deploy import Labs
from tests.support.names import unique_name

LAB = """
[lab]
name = "{name}"
within = "0s"

[nodes.h1]
[nodes.h2]

[[links]]
endpoints = ["h1", "h2"]
subnet = "192.168.1.0/30"

[[expect]]
from = "h1"
to = "h2"
"""


def text(name: str, old: str = "", new: str = "") -> str:
    return LAB.replace("{name}", name).replace(old, new)


# --- what differs, pure -------------------------------------------------------------------

def test_the_same_file_has_no_differences() -> None:
    assert plan_differences(plan(text("ta")), plan(text("ta"))) == []


def test_expectations_and_namespace_names_are_not_differences() -> None:
    # The expectations are the file's to change; a copy deployed with another namespace
    # prefix (as the test fixtures do) is the same network.
    edited = text("ta") + '[[expect]]\nfrom = "h2"\nto = "h1"\n'
    other = text("ta").replace('name = "ta"', 'name = "ta"\nprefix = "tq"')
    assert plan_differences(plan(edited), plan(text("ta"))) == []
    assert plan_differences(plan(other), plan(text("ta"))) == []


def test_addresses_nodes_and_routes_are_named() -> None:
    moved = text("ta", "192.168.1.0/30", "192.168.2.0/30")
    assert plan_differences(plan(moved), plan(text("ta"))) == [
        "node h1 eth0: address 192.168.2.1/30 in the file, 192.168.1.1/30 deployed",
        "node h2 eth0: address 192.168.2.2/30 in the file, 192.168.1.2/30 deployed",
    ]
    more = text("ta") + '[nodes.h3]\n[[links]]\nendpoints = ["h2", "h3"]\n' \
        'subnet = "192.168.3.0/30"\n'
    diff = plan_differences(plan(more), plan(text("ta")))
    assert "node h3: in the file, not deployed" in diff
    assert "node h2: interface eth1 in the file, not deployed" in diff
    assert diff == plan_differences(plan(more), plan(text("ta")))  # stable order
    assert "node h3: deployed, not in the file" in plan_differences(plan(text("ta")),
                                                                     plan(more))
    routed = text("ta").replace("[nodes.h1]", '[nodes.h1]\nroutes = [{ to = "10.9.0.0/16",'
                                " via = \"192.168.1.2\" }]")
    assert plan_differences(plan(routed), plan(text("ta"))) == [
        "node h1: route 10.9.0.0/16 via 192.168.1.2 dev eth0 in the file, not deployed"]


# --- against a deployed lab ---------------------------------------------------------------

def _deployed(labs: Labs) -> tuple[str, Path]:
    p = labs.lab(LAB)
    return p.lab, labs.tmp / f"{p.lab}.toml"


def test_an_edited_file_is_refused_with_what_differs(labs: Labs, tmp_path: Path) -> None:
    name, path = _deployed(labs)
    assert invoke("check", str(path)).code == 0  # the file it was deployed from: checked
    edited = tmp_path / "edited.toml"
    edited.write_text(text(name, "192.168.1.0/30", "192.168.7.0/30"))
    r = invoke("check", str(edited))
    assert r.code == 2, r.output
    assert "1/1" not in r.output and "FAIL" not in r.output  # nothing was probed
    assert f"{edited} differs from the deployed lab {name!r}" in r.stderr
    assert "node h2 eth0: address 192.168.7.2/30 in the file, 192.168.1.2/30 deployed" \
        in r.stderr
    assert f"`netlab deploy {edited} --force`" in r.stderr
    assert f"`netlab destroy {name}`, then `netlab deploy {edited}`" in r.stderr
    assert "Traceback" not in r.output


def test_an_added_node_is_refused(labs: Labs, tmp_path: Path) -> None:
    name, _ = _deployed(labs)
    grown = tmp_path / "grown.toml"
    grown.write_text(text(name) + '[nodes.h3]\n[[links]]\nendpoints = ["h2", "h3"]\n'
                     '[[expect]]\nfrom = "h1"\nto = "h3"\n')
    r = invoke("check", str(grown))
    assert r.code == 2, r.output
    assert "node h3: in the file, not deployed" in r.stderr


def test_a_file_of_another_lab_is_refused_with_lab(labs: Labs) -> None:
    name, _ = _deployed(labs)
    other = unique_name("t")
    path = labs.write(other, text(other))  # the same network, another lab: still refused
    r = invoke("check", str(path), "--lab", name)
    assert r.code == 2, r.output
    assert f"{path} is the topology of lab {other!r}, not {name!r}" in r.stderr
    assert f"`netlab check {path}`" in r.stderr and f"`netlab check --lab {name}`" in r.stderr
    assert invoke("check", "--lab", name).code == 0  # the fix it names works
    assert invoke("check", name).code == 0  # a deployed lab's name (kept)


# --- bundled names for the verbs that only read a file -----------------------------------

@pytest.mark.parametrize("verb", ["validate", "plan", "graph"])
def test_read_only_verbs_take_a_bundled_labs_name(verb: str, tmp_path: Path) -> None:
    extra = ["-o", str(tmp_path / "natgw.mmd")] if verb == "graph" else []
    r = invoke(verb, "natgw", *extra)
    assert r.code == 0, r.output
    if verb == "validate":
        assert "lab 'natgw' is valid" in r.stdout
    elif verb == "plan":
        assert r.stdout.startswith("lab natgw:")
    else:
        assert "gw" in (tmp_path / "natgw.mmd").read_text()


def test_an_unknown_bare_name_lists_the_bundled_labs() -> None:
    r = invoke("validate", "nosuchlab")
    assert r.code == 2 and "no bundled lab named 'nosuchlab'" in r.stderr
    assert "natgw" in r.stderr
