"""Importing Kathará labs: small lab directories built here (netlab.importers.kathara)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from netlab import api
from netlab.errors import TopologyError
from netlab.importers import convert, format_of
from tests.support.cli import invoke

FRR = Path("/usr/lib/frr/zebra").exists()


def lab(tmp: Path, conf: str, files: dict[str, str] | None = None) -> Path:
    d = tmp / "kathara-lab_demo"
    d.mkdir()
    (d / "lab.conf").write_text(conf)
    for rel, text in (files or {}).items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


ROUTED = '''LAB_DESCRIPTION="two routers and a LAN"
LAB_AUTHOR="someone"
r1[0]="A"
r1[1]="B/02:00:00:00:00:01"
r1[image]="kathara/frr"
r1[mem]="256m"
r2[0]=A
r2[image]="kathara/frr"
pc1[0]="B"
pc2[0]="B"
pc1[sysctl]="net.ipv4.conf.all.rp_filter=0"
pc2[ipv6]="True"
'''
STARTUP_R1 = """ip address add 10.0.0.1/30 dev eth0
ifconfig eth1 192.168.1.1 netmask 255.255.255.0 up
# a comment
systemctl start frr
"""


def routed(tmp: Path) -> Path:
    return lab(tmp, ROUTED, {
        "r1.startup": STARTUP_R1,
        "r2.startup": "ip address add 10.0.0.2/30 dev eth0\n/etc/init.d/frr start\n",
        "pc1.startup": "ip address add 192.168.1.10/24 dev eth0\n"
                       "ip route add default via 192.168.1.1\n",
        "pc2.startup": "ip address add 192.168.1.11/24 dev eth0\n",
        "r1/etc/frr/daemons": "ospfd=yes\nbgpd=no\n",
        "r1/etc/frr/frr.conf": "router ospf\n network 10.0.0.0/8 area 0\n",
        "r2/etc/frr/daemons": "ospfd=yes\n",
        "r2/etc/frr/frr.conf": "interface lo\n ip address 10.9.9.2/32\n!\nrouter ospf\n",
        "shared/hello.txt": "hi\n",
    })


def test_detects_kathara(tmp_path: Path) -> None:
    d = routed(tmp_path)
    assert format_of(d) == "kathara"
    assert format_of(d / "lab.conf") is None  # a file named lab.conf is not the lab


@pytest.mark.skipif(not FRR, reason="FRR is not installed")
def test_import_maps_domains_addresses_startup_and_files(tmp_path: Path) -> None:
    d = routed(tmp_path)
    text, warnings = convert(d, d / "netlab.toml")
    t = tomllib.loads(text)
    assert t["lab"]["name"] == "demo" and t["lab"]["routing"] == "none"
    assert t["lab"]["description"] == "two routers and a LAN"
    # two members: a point-to-point link, ethN kept, addresses taken from the scripts
    p2p = [x for x in t["links"] if x["endpoints"] == ["r1:eth0", "r2:eth0"]]
    assert p2p and p2p[0]["addresses"] == ["10.0.0.1/30", "10.0.0.2/30"]
    # three members: a switch; the MAC of lab.conf on the end; ifconfig's netmask read
    assert "b" in t["switches"]
    r1b = [x for x in t["links"] if x["endpoints"] == ["r1:eth1", "b"]][0]
    assert r1b["addresses"] == ["192.168.1.1/24"]
    assert r1b["props"] == [{"mac": "02:00:00:00:00:01"}, {}]
    r1 = t["nodes"]["r1"]
    assert r1["kind"] == "router" and r1["gateway"] is False
    assert r1["routing"] == "ospf"  # one protocol in daemons: netlab's FRR runs it
    assert r1["files"]["/etc/frr/frr.conf"] == {"source": "r1/etc/frr/frr.conf"}
    assert r1["files"]["/root/shared/hello.txt"] == {"source": "shared/hello.txt"}
    script = r1["files"]["/root/r1.startup"]["content"].splitlines()
    # line for line: errors name the original script's line numbers
    assert len(script) == len(STARTUP_R1.splitlines())
    assert script[0].startswith("# netlab: the topology sets this address")
    assert script[2] == "# a comment"
    assert "systemctl" not in script[3].split("was")[0]
    assert r1["startup"] == ["bash /root/r1.startup"]
    assert t["nodes"]["r2"]["loopback"] == ["10.9.9.2/32"]  # from frr.conf's lo
    assert t["nodes"]["pc1"]["sysctl"] == {"net.ipv4.conf.all.rp_filter": 0}
    # Kathará's ipv6 on: netlab must not turn IPv6 off (SLAAC from radvd needs it)
    assert t["nodes"]["pc2"]["sysctl"] == {"net.ipv6.conf.all.disable_ipv6": 0,
                                           "net.ipv6.conf.default.disable_ipv6": 0}
    pc1 = t["nodes"]["pc1"]["files"]["/root/pc1.startup"]["content"]
    assert "ip route add default via 192.168.1.1" in pc1  # routes stay in the script
    said = " ".join(w.message for w in warnings)
    assert "r1[mem]=256m: not mapped" in said and "/root/shared" in said


@pytest.mark.skipif(not FRR, reason="FRR is not installed")
def test_imported_topology_validates_and_deploy_path_imports(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    d = routed(tmp_path)
    topo = api.load(d)  # what `netlab deploy DIR` loads: imported on the fly
    assert topo.name == "demo"
    assert {n.name for n in topo.plan.nodes} == {"r1", "r2", "pc1", "pc2"}
    r1 = next(n for n in topo.plan.nodes if n.name == "r1")
    assert any(f.path == "/etc/frr/frr.conf" for f in r1.files)
    monkeypatch.chdir(tmp_path)
    out = invoke("import", d.name, "-o", "topo.toml")
    assert out.code == 0, out.output
    assert "r1[mem]" in out.stderr
    assert invoke("validate", "topo.toml").code == 0
    again = invoke("import", d.name, "-o", "topo.toml")
    assert again.code == 2 and "--force" in again.stderr  # never overwrites unasked
    named = invoke("import", d.name, "-o", "topo.toml", "--force", "--name", "ospf1")
    assert named.code == 0 and 'name = "ospf1"' in (tmp_path / "topo.toml").read_text()
    bad = invoke("import", d.name, "-o", "-", "--name", "Bad_Name")
    assert bad.code == 2 and "--name" in bad.stderr and bad.stdout == ""


def test_bad_lab_conf_gives_every_problem_with_lines(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    d = lab(tmp_path, 'r1[0]="A"\nthis is not kathara\nr1[imgae]="x"\nr1[0]="B"\n'
                      'r2[1]="A/zz:00"\n', {"lab.dep": "r1: r2\nr2: r1\nr3: r1\n"})
    with pytest.raises(TopologyError) as e:
        convert(d, None)
    text = e.value.render()
    for expected in ("lab.conf line 2: cannot read", "lab.conf line 3: unknown option"
                     " r1[imgae] (did you mean \"image\"?)", "lab.conf line 4: r1[0] is set"
                     " twice (first on line 1)", "lab.conf line 5: r2[1]: 'zz:00' is not a"
                     " MAC", "lab.dep line 3: no device 'r3'", "in a circle"):
        assert expected in text, text
    monkeypatch.chdir(tmp_path)
    out = invoke("import", d.name)
    assert out.code == 2 and "Traceback" not in out.output and "6 errors" in out.stderr
    assert not (d / "netlab.toml").exists()
    assert invoke("validate", d.name + "/").code == 2


def test_device_dir_symlink_and_missing_binary_are_refused(tmp_path: Path) -> None:
    d = lab(tmp_path, 'h1[0]="A"\nh2[0]="A"\n', {
        "h1.startup": "ip address add 10.0.0.1/24 dev eth0\nnosuchtool-xyz --go\n"
                      "service nosuchservice-xyz start\n"})
    (d / "h1" / "etc").mkdir(parents=True)
    os.symlink("/etc/shadow", d / "h1" / "etc" / "shadow")
    with pytest.raises(TopologyError) as e:
        convert(d, d / "netlab.toml")
    text = e.value.render()
    assert "h1/etc/shadow is a symlink" in text
    assert "h1.startup line 2: `nosuchtool-xyz` is not installed here" in text
    assert "h1.startup line 3: `service nosuchservice-xyz start`" in text


def test_unaddressed_interfaces_are_said_and_names_made_valid(tmp_path: Path) -> None:
    d = lab(tmp_path, 'PC_1[0]="Net.A"\npc2[0]="Net.A"\nws[image]='
                      '"lscr.io/linuxserver/wireshark"\n')
    (d.parent / "other").mkdir()
    text, warnings = convert(d, d.parent / "other" / "t.toml")
    t = tomllib.loads(text)
    assert set(t["nodes"]) == {"pc-1", "pc2"}  # wireshark left out, names made valid
    assert t["links"][0]["endpoints"] == ["pc-1:eth0", "pc2:eth0"]
    said = " ".join(w.message for w in warnings)
    assert "no IPv4 address" in said and "wireshark" in said


@pytest.mark.skipif(not FRR, reason="FRR is not installed")
def test_two_frr_protocols_one_as_routing_the_other_as_exec(tmp_path: Path) -> None:
    d = lab(tmp_path, 'r1[0]="A"\nr2[0]="A"\n', {
        "r1.startup": "ip address add 10.0.0.1/24 dev eth0\nservice frr start\n",
        "r2.startup": "ip address add 10.0.0.2/24 dev eth0\nsystemctl start frr.service\n",
        "r1/etc/frr/daemons": "ospfd=yes\nbgpd=yes\n",
        "r1/etc/frr/frr.conf": "router bgp 1\n!\nrouter ospf\n",
        "r2/etc/frr/daemons": "isisd=yes\n",
        "r2/etc/frr/frr.conf": "router isis 1\n"})
    t = tomllib.loads(convert(d, d / "netlab.toml")[0])
    r1, r2 = t["nodes"]["r1"], t["nodes"]["r2"]
    assert r1["routing"] == "bgp"
    assert len(r1["exec"]) == 1 and r1["exec"][0].endswith(
        "exec /usr/lib/frr/ospfd -u root -g frrvty -f /etc/frr/frr.conf -A 127.0.0.1")
    assert "routing" not in r2  # no protocol netlab knows: zebra, staticd, isisd as exec
    assert [x.split("exec ")[-1].split()[0] for x in r2["exec"]] == [
        "/usr/lib/frr/zebra", "/usr/lib/frr/staticd", "/usr/lib/frr/isisd"]
    script = r2["files"]["/root/r2.startup"]["content"].splitlines()
    assert script[1].startswith("install -d -m 0755 /run/frr")
    assert api.load(d).name == "demo"  # and it validates
