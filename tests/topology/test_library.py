"""The bundled classroom labs (pure): every lab validates cleanly, is small, checks
something, has a lesson whose picture matches the topology; `netlab labs`; resolve()."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.api import load
from netlab.cli import app
from netlab.errors import UsageError
from netlab.plan.render import to_mermaid
from netlab.topology import library
from tests.labs.labtools import EXPECTED_FAILURES, deploy_name

LABS = library.bundled()
NAMES = [lab.name for lab in LABS]
runner = CliRunner()
LESSON_SECTIONS = ("## Goal", "## Picture", "## Try", "## Observe", "## Questions")


def test_at_least_ten_bundled_labs() -> None:
    assert len(LABS) >= 10, NAMES
    assert all(lab.path.parent.name == "topologies" for lab in LABS)


@pytest.mark.parametrize("lab", LABS, ids=NAMES)
def test_lab_validates_without_warnings(lab: library.BundledLab) -> None:
    topo = load(lab.path)
    assert topo.warnings == [], [w.render(str(lab.path)) for w in topo.warnings]
    assert topo.name == lab.name, "the file's stem is the name `netlab deploy NAME` takes"
    assert lab.description, "a one-line [lab] description is what `netlab labs` shows"
    assert 2 <= len(topo.plan.nodes) <= 6, "classroom labs stay small (2-6 nodes)"
    assert topo.plan.expect, "every lab proves itself with [[expect]] entries"
    assert topo.plan.to_json()  # and `netlab plan` has something to print


@pytest.mark.parametrize("lab", LABS, ids=NAMES)
def test_lab_has_a_lesson_with_its_current_picture(lab: library.BundledLab) -> None:
    assert lab.lesson is not None, f"write docs/labs/{lab.name}.md"
    text = lab.lesson_text()
    for section in LESSON_SECTIONS:
        assert section in text, f"{lab.lesson}: missing section {section!r}"
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block, f"{lab.lesson}: no ```mermaid block (netlab graph -o x.mmd)"
    # The picture is regenerated, not drawn by hand: it must match the topology today.
    assert block.group(1) == to_mermaid(load(lab.path).graph), (
        f"{lab.lesson}: picture is stale; regenerate with "
        f"`netlab graph topologies/{lab.name}.toml -o x.mmd`")
    assert f"netlab deploy {lab.name}" in text and f"netlab check {lab.name}" in text
    assert "netlab exec" in text, "a lesson gives commands to try inside the nodes"


def test_deploy_names_for_tests_are_unique_and_valid() -> None:
    names = [deploy_name(n) for n in NAMES]
    assert len(set(names)) == len(names)
    assert all(len(n) <= 12 and not n.endswith("-") for n in names)


def test_the_issue_s_topics_are_all_covered() -> None:
    models = {lab.name: load(lab.path).model for lab in LABS}

    def some(pred) -> bool:  # type: ignore[no-untyped-def]
        return any(pred(m) for m in models.values())

    assert some(lambda m: not m.switches and len(m.nodes) == 2)  # two hosts on one wire
    assert some(lambda m: any(len([li for li in m.links if sw in li.endpoints]) >= 4
                              and all(n.kind == "host" for n in m.nodes.values())
                              for sw in m.switches))  # a switched LAN of four hosts
    assert some(lambda m: m.lab.routing == "none"
                and sum(n.kind == "router" for n in m.nodes.values()) == 3)
    assert some(lambda m: m.lab.routing == "auto"
                and sum(n.kind == "router" for n in m.nodes.values()) == 3)
    assert some(lambda m: any(n.nat and n.nat.masquerade for n in m.nodes.values())
                and any(e.source_nat for e in m.expect))
    assert some(lambda m: any(n.nat and n.nat.forward and n.firewall
                              for n in m.nodes.values()))  # port forward + stateful rule
    assert some(lambda m: any(n.firewall for n in m.nodes.values())
                and {e.proto for e in m.expect} >= {"tcp", "udp"}
                and not all(e.reach for e in m.expect))  # DMZ
    assert some(lambda m: any(e.dns and e.dns.answer for e in m.expect)
                and any("dnsmasq" in c for n in m.nodes.values() for c in n.exec))
    assert some(lambda m: m.defaults.ipv6
                and any(n.kind == "router" for n in m.nodes.values()))
    assert some(lambda m: any(n.mtu for n in m.nodes.values())
                or any(li.mtu for li in m.links))


def test_dns_lab_never_forwards_out_of_the_lab() -> None:
    model = load(library.find("dns").path).model
    cmd = " ".join(c for n in model.nodes.values() for c in n.exec if "dnsmasq" in c)
    for flag in ("--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--no-daemon"):
        assert flag in cmd
    assert "--server" not in cmd and "--resolv-file" not in cmd


def test_broken_lab_differs_from_its_fixed_twin_only_by_the_faults() -> None:
    broken = load(library.find("broken").path).plan
    fixed = load(library.find("fixed").path).plan
    assert [e.model_dump() for e in broken.expect] == [e.model_dump() for e in fixed.expect]
    diff = {n.name for n, m in zip(broken.nodes, fixed.nodes, strict=True)
            if n.routes != m.routes}
    assert diff == {"pc1", "r2"}  # the wrong gateway and the missing route
    assert set(EXPECTED_FAILURES) == {"broken"}
    assert EXPECTED_FAILURES["broken"] < {e.index for e in broken.expect}


def test_resolve_takes_names_and_paths(tmp_path: Path) -> None:
    natgw = library.find("natgw").path
    assert library.resolve("natgw") == natgw
    assert library.resolve(str(natgw)) == natgw
    mine = tmp_path / "natgw"
    mine.write_text("")
    assert library.resolve(mine) == mine  # an existing file wins over a bundled name
    with pytest.raises(UsageError, match='did you mean "natgw"'):
        library.resolve("natgx")
    with pytest.raises(UsageError, match="no such topology file"):
        library.resolve(tmp_path / "missing.toml")


def test_labs_verb_lists_every_lab_with_its_description() -> None:
    result = runner.invoke(app, ["labs"])
    assert result.exit_code == 0, result.output
    for lab in LABS:
        assert re.search(rf"^{re.escape(lab.name)} +{re.escape(lab.description)}$",
                         result.output, re.M), lab.name


def test_labs_verb_shows_a_lesson_and_rejects_unknown_names() -> None:
    result = runner.invoke(app, ["labs", "broken"])
    assert result.exit_code == 0
    assert "## Questions" in result.output and "topologies/broken.toml" in result.output
    result = runner.invoke(app, ["labs", "nosuchlab"])
    assert result.exit_code == 2
    assert "no bundled lab named 'nosuchlab'" in result.output


@pytest.mark.parametrize("lab", [lab for lab in LABS if any(
    n.firewall for n in load(lab.path).model.nodes.values())], ids=lambda lab: lab.name)
def test_firewall_rules_quoted_in_a_lesson_match_the_topology(lab: library.BundledLab) -> None:
    text = lab.lesson_text()
    for node in load(lab.path).model.nodes.values():
        for line in (node.firewall or "").strip().splitlines():
            assert line.rstrip() in text, f"{lab.lesson}: rule not quoted as in the file: {line}"
