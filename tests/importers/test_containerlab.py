"""Importing containerlab topologies: small *.clab.yml files built here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from netlab import api
from netlab.errors import TopologyError
from netlab.importers import convert, format_of
from tests.support.cli import invoke

FRR = Path("/usr/lib/frr/zebra").exists()

CLAB = """name: demo
mgmt:
  network: custom
topology:
  kinds:
    linux:
      image: alpine
  groups:
    hosts:
      kind: linux
      env:
        GREETING: hello world
  nodes:
    r1:
      kind: linux
      image: quay.io/frrouting/frr:10.5.1
      binds:
        - r1/daemons:/etc/frr/daemons
        - r1/frr.conf:/etc/frr/frr.conf
      ports: ["8080:80"]
    PC1:
      group: hosts
      exec:
        - ip addr add 192.168.1.2/24 dev eth1
        - ip route add default via 192.168.1.1
    sw:
      kind: bridge
    pc2:
      group: hosts
  links:
    - endpoints: ["r1:eth1", "PC1:eth1"]
    - endpoints: ["r1:eth2", "sw:p1"]
    - endpoints: ["pc2:eth1", "sw:p2"]
"""


def write(tmp: Path, text: str, files: dict[str, str] | None = None) -> Path:
    f = tmp / "demo.clab.yml"
    f.write_text(text)
    for rel, body in (files or {}).items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(body)
    return f


@pytest.mark.skipif(not FRR, reason="FRR is not installed")
def test_clab_maps_nodes_links_binds_exec_env(tmp_path: Path) -> None:
    f = write(tmp_path, CLAB, {"r1/daemons": "ospfd=yes\n",
                               "r1/frr.conf": "interface eth1\n ip address 192.168.1.1/24\n"
                                              "!\nrouter ospf\n"})
    assert format_of(f) == "containerlab"
    text, warnings = convert(f, tmp_path / "out" / "t.toml")
    t = tomllib.loads(text)
    assert t["lab"]["name"] == "demo"
    assert set(t["nodes"]) == {"r1", "pc1", "pc2"} and set(t["switches"]) == {"sw"}
    link = [x for x in t["links"] if x["endpoints"] == ["r1:eth1", "pc1:eth1"]][0]
    # frr.conf's interface address and the exec line's: the topology holds both
    assert link["addresses"] == ["192.168.1.1/24", "192.168.1.2/24"]
    r1 = t["nodes"]["r1"]
    assert r1["routing"] == "ospf"
    assert r1["files"]["/etc/frr/frr.conf"]["content"].startswith("interface eth1")
    pc1 = t["nodes"]["pc1"]
    assert pc1["startup"] == ["export GREETING='hello world'; ip route add default via"
                              " 192.168.1.1"]
    said = " ".join(w.message for w in warnings)
    assert "mgmt" in said and "ports is a Docker option" in said


def test_clab_vendor_kinds_bad_links_and_traversal_are_errors(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    f = write(tmp_path, """name: bad
topology:
  nodes:
    srl:
      kind: nokia_srlinux
      image: ghcr.io/nokia/srlinux
    h1:
      kind: linux
      binds:
        - ../../etc/passwd:/etc/passwd
    h2:
      kind: linux
  links:
    - endpoints: ["h1:eth1", "h3:eth1"]
    - endpoints: ["h1:eth2"]
""")
    with pytest.raises(TopologyError) as e:
        convert(f, None)
    text = e.value.render()
    assert "line 5 (topology.nodes.srl): node srl: kind 'nokia_srlinux' is a vendor" in text
    assert "outside the lab's directory" in text
    assert "no node 'h3'" in text and "endpoints must list two ends" in text
    monkeypatch.chdir(tmp_path)
    out = invoke("import", f.name)
    assert out.code == 2 and "Traceback" not in out.output and "4 errors" in out.stderr


def test_clab_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    f = write(tmp_path, "name: x\ntopology:\n  nodes:\n    a: [unclosed\n")
    with pytest.raises(TopologyError) as e:
        convert(f, None)
    assert "line 5: not valid YAML" in e.value.render() or "line 4" in e.value.render()


def test_clab_deploy_path_loads(tmp_path: Path) -> None:
    f = write(tmp_path, """name: plain
topology:
  nodes:
    a: {kind: linux, exec: ["ip addr add 10.1.0.1/24 dev eth1"]}
    b: {kind: linux, exec: ["ip addr add 10.1.0.2/24 dev eth1"]}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
""")
    topo = api.load(f)
    a = next(n for n in topo.plan.nodes if n.name == "a")
    assert [str(x) for i in a.interfaces for x in i.addresses] == ["10.1.0.1/24"]


@pytest.mark.skipif(not FRR, reason="FRR is not installed")
def test_clab_node_dirs_beside_the_topology_are_refused_with_the_fix(tmp_path: Path) -> None:
    """netlab would mirror <dir>/r1/ over r1's / (Kathará's convention): a containerlab
    lab keeps bind sources there, so its topology goes one directory up."""
    lab = tmp_path / "lab"
    lab.mkdir()
    f = write(lab, CLAB, {"r1/daemons": "ospfd=yes\n", "r1/frr.conf": "router ospf\n"})
    with pytest.raises(TopologyError) as e:
        convert(f, f)  # what `netlab deploy demo.clab.yml` does
    assert "would be mirrored over the node's /" in e.value.render()
    assert "-o " + str(tmp_path / "demo.toml") in e.value.render()
    text, _ = convert(f, tmp_path / "demo.toml")
    assert 'source = "lab/r1/frr.conf"' in text
