"""`netlab export --to containerlab`: the YAML reads back through netlab's own containerlab
importer into the same nodes, links and addresses; golden files of two bundled labs; what
is refused (overwriting, symlinks in the way) and what becomes of an uplink. No root: the
export needs only the compiled plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from netlab.api import load
from netlab.errors import UsageError
from netlab.exporters import export, write
from netlab.exporters.containerlab import scalar
from netlab.importers import convert
from netlab.plan.model import Plan
from netlab.topology.library import find
from tests.support import golden
from tests.support.cli import netlab


def _plan(name: str) -> Plan:
    return load(find(name).path).plan


def _shape(plan: Plan) -> tuple[set[str], set[frozenset[str]], dict[str, set[str]]]:
    """Nodes, links (as their two ends; a switch end is the switch's name) and each
    interface's addresses: what must survive the round trip."""
    netns = {n.netns: n.name for n in plan.nodes}
    netns.update({s.netns: s.name for s in plan.switches})
    switches = {s.name for s in plan.switches}
    links = set()
    for v in plan.veths:
        ends = []
        for end in (v.a, v.b):
            name = netns[end.netns]
            ends.append(name if name in switches else f"{name}:{end.ifname}")
        links.add(frozenset(ends))
    addrs = {f"{n.name}:{i.name}": set(i.addresses) for n in plan.nodes for i in n.interfaces}
    return {n.name for n in plan.nodes}, links, addrs


@pytest.mark.parametrize("lab", ["two-hosts", "router-lans", "ospf", "natgw", "dualstack",
                                 "mtu", "bgp"])
def test_round_trip_through_the_importer(lab: str, tmp_path: Path) -> None:
    plan = _plan(lab)
    out = tmp_path / f"{lab}.clab.yml"
    write(export(plan, "containerlab", out), out)
    toml = tmp_path / "back" / f"{lab}.toml"
    toml.parent.mkdir()
    text, _ = convert(out, toml)
    toml.write_text(text)
    back = load(toml).plan
    nodes, links, addrs = _shape(plan)
    nodes2, links2, addrs2 = _shape(back)
    assert nodes2 == nodes
    assert links2 == links
    assert addrs2 == addrs


@pytest.mark.parametrize("lab", ["natgw", "ospf"])
def test_golden(lab: str, tmp_path: Path) -> None:
    out = tmp_path / f"{lab}.clab.yml"
    ex = export(_plan(lab), "containerlab", out)
    golden.check(golden.GOLDEN / "export" / f"{lab}.clab.yml", ex.text)
    assert yaml.safe_load(ex.text)["name"] == lab


def test_frr_nodes_use_frr_image_and_their_configs(tmp_path: Path) -> None:
    out = tmp_path / "ospf.clab.yml"
    ex = export(_plan("ospf"), "containerlab", out, {"pc1": "alpine:3"})
    nodes = yaml.safe_load(ex.text)["topology"]["nodes"]
    assert "frr" in nodes["r1"]["image"]
    assert nodes["pc1"]["image"] == "alpine:3"
    assert "ospf.files/r1/etc/frr/frr.conf:/etc/frr/frr.conf" in nodes["r1"]["binds"]
    # the daemons are the FRR image's: netlab's own exec services are not copied
    assert not any("zebra" in c or "/run/frr" in c for c in nodes["r1"]["exec"])
    conf = ex.files["ospf.files/r1/etc/frr/frr.conf"][0].decode()
    assert conf == _plan("ospf").node("r1").files[0].text
    assert nodes["lan1"] == {"kind": "bridge"}


def test_nftables_and_services(tmp_path: Path) -> None:
    ex = export(_plan("natgw"), "containerlab", tmp_path / "natgw.clab.yml")
    nodes = yaml.safe_load(ex.text)["topology"]["nodes"]
    assert "nft -f /etc/netlab/nftables.nft" in nodes["gw"]["exec"]
    assert b"masquerade" in ex.files["natgw.files/gw/etc/netlab/nftables.nft"][0]
    # a service must not hold containerlab's exec: it goes to the background
    (web,) = [c for c in nodes["web"]["exec"] if "http.server" in c]
    assert web.startswith("sh -c ") and web.endswith("&'")


@pytest.mark.parametrize("text", ["plain", "yes", "No", "null", "1", "0x1f", "a: b", "# x",
                                  "- x", "[x]", "{x}", "it's", 'say "hi"', "tab\there",
                                  "line\nbreak", "\x00\x07\x1b", "\u2028\u0085\ufeff",
                                  "é ü 😀", "~", "", " lead", "trail ", "*a", "&a", "!t",
                                  "%x", "@x", "`x", "a #b", "1.5", ".inf", "2001:db8::1"])
def test_scalars_read_back_as_written(text: str) -> None:
    assert yaml.safe_load(f"k: {scalar(text)}\n") == {"k": text}
    assert yaml.safe_load(f"- {scalar(text)}\n") == [text]


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "ospf.clab.yml"
    ex = export(_plan("ospf"), "containerlab", out)
    write(ex, out)
    (tmp_path / "ospf.files" / "r1" / "etc" / "frr" / "frr.conf").write_text("mine\n")
    with pytest.raises(UsageError) as e:
        write(ex, out)
    assert "ospf.clab.yml exists" in str(e.value) and "frr.conf exists" in str(e.value)
    assert "--force" in str(e.value)
    assert (tmp_path / "ospf.files/r1/etc/frr/frr.conf").read_text() == "mine\n"
    write(ex, out, force=True)
    assert (tmp_path / "ospf.files/r1/etc/frr/frr.conf").read_text() != "mine\n"


def test_never_writes_through_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lab = tmp_path / "lab"
    lab.mkdir()
    out = lab / "ospf.clab.yml"
    os.symlink(elsewhere, lab / "ospf.files")  # the files' directory points out
    ex = export(_plan("ospf"), "containerlab", out)
    for force in (False, True):
        with pytest.raises(UsageError, match="symlink"):
            write(ex, out, force=force)
    assert list(elsewhere.iterdir()) == [] and not out.exists()
    os.unlink(lab / "ospf.files")
    target = elsewhere / "victim"
    target.write_text("keep\n")
    os.symlink(target, out)  # the output file itself
    with pytest.raises(UsageError, match="symlink"):
        write(ex, out, force=True)
    assert target.read_text() == "keep\n"


def test_uplink_is_left_out_with_a_note(tmp_path: Path) -> None:
    topo = tmp_path / "up.toml"
    topo.write_text('[lab]\nname = "up"\n[nodes.gw]\nkind = "router"\n[nodes.h1]\n'
                    '[[links]]\nendpoints = ["gw", "h1"]\n'
                    '[uplink]\nnode = "gw"\nsubnet = "100.64.7.0/30"\n')
    plan = load(topo).plan
    assert plan.uplink is not None
    ex = export(plan, "containerlab", tmp_path / "up.clab.yml")
    notes = [n for n in ex.notes if n.path == "uplink"]
    assert len(notes) == 1 and notes[0].severity == "warning"
    assert "left out" in notes[0].message and "host:" in notes[0].fix
    data = yaml.safe_load(ex.text)
    assert set(data["topology"]["nodes"]) == {"gw", "h1"}
    assert len(data["topology"]["links"]) == 1
    assert not any("100.64.7" in c for n in data["topology"]["nodes"].values()
                   for c in n.get("exec", []))
    assert "# not exported: uplink:" in ex.text


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = netlab(monkeypatch, "export", "two-hosts", "-o", "-", cwd=tmp_path)
    assert r.code == 0, r.output
    assert yaml.safe_load(r.stdout)["topology"]["links"] == [
        {"endpoints": ["h1:eth0", "h2:eth0"]}]
    r = netlab(monkeypatch, "export", "natgw", cwd=tmp_path)
    assert r.code == 0, r.output
    assert (tmp_path / "natgw.clab.yml").is_file()
    r = netlab(monkeypatch, "export", "natgw", cwd=tmp_path)
    assert r.code == 2 and "exists" in r.stderr and "Traceback" not in r.output
    r = netlab(monkeypatch, "export", "natgw", "--to", "kathara", cwd=tmp_path)
    assert r.code == 2 and "unknown format" in r.stderr
    r = netlab(monkeypatch, "export", "ospf", "-o", "-", cwd=tmp_path)
    assert r.code == 2 and "-o FILE" in r.stderr  # files cannot go to stdout
    r = netlab(monkeypatch, "export", "./nope.toml", cwd=tmp_path)
    assert r.code == 2 and "Traceback" not in r.output


def test_help_imports_no_yaml() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['netlab', '--help']\n"
            "from netlab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('yaml' in sys.modules, 'netlab.exporters' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert "export" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "False False"


def test_a_deployed_lab_is_exported_from_its_saved_plan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What runs is the saved plan, not the bundled file of the same name.
    from netlab.state import layout, plans

    saved = _plan("two-hosts").model_copy(update={"lab": "natgw", "description": "SAVED"})
    monkeypatch.setattr(layout, "list_labs", lambda: ["natgw"])
    monkeypatch.setattr(plans, "read_plan", lambda name: saved)
    r = netlab(monkeypatch, "export", "natgw", "-o", "x.clab.yml", cwd=tmp_path)
    assert r.code == 0, r.output
    assert "# SAVED" in (tmp_path / "x.clab.yml").read_text()
    r = netlab(monkeypatch, "export", "natgw", "--image", "zz=alpine", "-o", "y.clab.yml",
               cwd=tmp_path)
    assert r.code == 2 and "no node zz" in r.stderr
