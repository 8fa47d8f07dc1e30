"""Node firewalls: a node's `firewall` text becomes `table inet netlab_fw { ... }`
in the node's nftables text, checked so that it cannot escape that table."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.compile import firewall
from netlab.compile.compiler import compile_topology
from netlab.errors import NetlabError, TopologyError
from netlab.topology.loader import parse
from tests.compile.test_firewall import INJECTIONS, SECRET
from tests.compile.test_firewall import topo as literal_topo
from tests.support.names import run_prefix
from tests.support.netns import netns_exec

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

P = run_prefix("t6")  # this run's lab names: two runs at once never share one

CHAIN = ('chain forward {\n    type filter hook forward priority filter; policy drop;\n'
         '    ct state established,related accept\n    iifname "eth0" accept\n}')


def topo(fw: str, nat: str = "") -> str:
    return f'''
[lab]
name = "{P}fw"
[nodes.a]
[nodes.gw]
kind = "router"
{nat}
firewall = """{fw}"""
[nodes.b]
[[links]]
endpoints = ["a", "gw:eth0"]
[[links]]
endpoints = ["gw:eth1", "b"]
'''


def compiled(text: str):  # type: ignore[no-untyped-def]
    return compile_topology(parse(text, "t.toml"), "t.toml")


def test_firewall_is_rendered_as_netlab_s_own_table_after_the_nat_table() -> None:
    c = compiled(topo(CHAIN, 'nat = { masquerade = ["eth1"] }'))
    nft = c.plan.node("gw").nftables
    assert nft is not None and c.warnings == []
    assert nft.index("table ip netlab {") < nft.index("table inet netlab_fw {")
    assert '\t    iifname "eth0" accept\n' in nft and nft.endswith("\t}\n}\n")
    assert c.plan.node("a").nftables is None


def test_firewall_alone_still_gives_one_ruleset() -> None:
    nft = compiled(topo(CHAIN)).plan.node("gw").nftables
    assert nft == firewall.render(CHAIN)
    assert nft.startswith("table inet netlab_fw {\n") and "table ip netlab " not in nft


@pytest.mark.parametrize(("body", "message"), [
    ("", "the firewall has no rules"),
    ("  # just a comment\n", "the firewall has no rules"),
    ("} table ip filter { chain x { } }", "closes a brace that was never opened"),
    ("chain x { } } table inet other {", "'table' is not allowed here"),
    ("flush ruleset", "'ruleset' is not allowed here"),
    ('include "/etc/nftables.conf"', "'include' is not allowed here"),
    ("define LAN = 10.0.0.0/24\nchain x { }", "'define' is not allowed here"),
    ("chain x { type filter hook input priority 0;", "'{' never closed"),
])
def test_escaping_or_empty_firewalls_are_errors_at_their_key(body: str, message: str) -> None:
    with pytest.raises(TopologyError) as err:
        compiled(topo(body))
    paths = {p.path for p in err.value.problems if message in p.message}
    assert paths == {"nodes.gw.firewall"}, err.value.render()
    assert all(p.fix for p in err.value.problems)


def test_words_inside_strings_and_comments_are_not_directives() -> None:
    body = CHAIN.replace("accept\n}", 'accept comment "table of ruleset"  # include\n}')
    assert firewall.problems(body, {"eth0"}) == []


def test_unknown_interfaces_and_missing_chains_are_warnings() -> None:
    c = compiled(topo('chain f { type filter hook forward priority 0; '
                      'iifname { "eth0", "eth7" } accept; oifname != eht1 drop; }'))
    warned = {p.message for p in c.warnings if p.path == "nodes.gw.firewall"}
    assert any("'eth7'" in m for m in warned) and any("'eht1'" in m for m in warned)
    assert not any("'eth0'" in m for m in warned)
    probs = firewall.problems('set blocked { type ipv4_addr; }')
    assert [p.severity for p in probs] == ["warning"] and "no chain" in probs[0].message


# -- deploy (root): nothing leaves netlab's table, no file is read --------------------------

def _tables(netns: str | None = None) -> set[str]:
    """`nft list tables` as the kernel's own nft sees it (host, or a namespace)."""
    out = netns_exec(netns, "nft", "list", "tables", check=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


@pytest.fixture
def lab_name() -> Iterator[str]:
    """A unique lab name; whatever a test deployed under it is destroyed afterwards."""
    from netlab.lab import Lab
    from netlab.state.store import lab_dir

    name = "t" + secrets.token_hex(4)
    yield name
    if lab_dir(name).exists():
        Lab.attach(name).destroy()


@pytest.fixture
def secret_file() -> Iterator[tuple[str, str]]:
    """A root-only file (0600) with a secret line, in a directory nobody may enter."""
    d = Path(tempfile.mkdtemp(prefix="netlab-t10-", dir="/tmp"))
    try:
        d.chmod(0o755)  # so that only the file's own mode protects it
        path = d / "secret"
        word = "SECRET-" + secrets.token_hex(6)
        path.write_text(f"{word}\n")
        path.chmod(0o600)
        yield str(path), word
    finally:
        shutil.rmtree(d)


@pytest.mark.root
@pytest.mark.parametrize("case", sorted(INJECTIONS))
def test_an_injection_never_deploys_nor_reads_a_file(case: str, lab_name: str, tmp_path: Path,
                                                      secret_file: tuple[str, str]) -> None:
    path, word = secret_file
    body = INJECTIONS[case].replace(SECRET, path)
    topology = tmp_path / f"{lab_name}.toml"
    topology.write_text(literal_topo(body, lab_name))
    # Other tests may add host tables meanwhile: watch a guard table of our own instead.
    guard = f"table ip {lab_name}-guard"
    subprocess.run(["nft", "add", *guard.split()], check=True)
    try:
        run = subprocess.run([sys.executable, "-m", "netlab", "deploy", str(topology)],
                             capture_output=True, text=True, timeout=120)
        tables = _tables()
    finally:
        subprocess.run(["nft", "delete", *guard.split()], check=True)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "nodes.gw.firewall" in run.stderr and "Traceback" not in run.stderr
    assert word not in run.stdout + run.stderr
    assert guard in tables and not [t for t in tables if "injected" in t]
    assert not [n for n in os.listdir("/run/netns") if n.startswith(lab_name)]


@pytest.mark.root
def test_a_plan_that_includes_a_file_is_refused_at_deploy(lab_name: str,
                                                           secret_file: tuple[str, str]) -> None:
    """A plan made in Python skips validate; the driver still never lets nft read a file."""
    from netlab.lab import Lab

    path, word = secret_file
    plan = compiled(literal_topo(CHAIN, lab_name)).plan
    gw = plan.node("gw").model_copy(update={"nftables": f'include "{path}"\n'})
    plan = plan.model_copy(update={"nodes": [gw if n.name == "gw" else n for n in plan.nodes]})
    with pytest.raises(NetlabError) as err:
        Lab.deploy(plan)
    assert "read" in str(err.value) and word not in str(err.value)
    _assert_gone(plan)


@pytest.mark.root
def test_an_nft_error_at_deploy_fails_it_and_leaves_nothing(lab_name: str) -> None:
    """validate now finds nft's errors first; deploy still fails whole if nft refuses."""
    from netlab.lab import Lab

    plan = compiled(literal_topo(CHAIN, lab_name)).plan
    gw = plan.node("gw").model_copy(update={"nftables": "table inet netlab_fw {\n\tthis is"
                                                         " not nftables\n}\n"})
    plan = plan.model_copy(update={"nodes": [gw if n.name == "gw" else n for n in plan.nodes]})
    with pytest.raises(NetlabError, match="node gw.*ruleset:2:"):
        Lab.deploy(plan)
    _assert_gone(plan)


@pytest.mark.root
def test_the_dmz_firewall_validates_and_deploys_into_netlab_s_table_only(
        lab_name: str, tmp_path: Path) -> None:
    from netlab.lab import Lab
    from tests.support.names import renamed_copy

    path = renamed_copy(Path("topologies/dmz.toml").resolve(), lab_name, tmp_path)
    run = subprocess.run([sys.executable, "-m", "netlab", "validate", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    lab = Lab.deploy(path)
    assert _tables(lab.plan.node("fw").netns) == {"table inet netlab_fw"}
    # The rules work: from outside, web's port 8000 is dropped (filtered), not refused.
    assert lab.probe("out", "web", "tcp", 8000).state == "filtered"
    lab.destroy()


def _assert_gone(plan) -> None:  # type: ignore[no-untyped-def]
    from netlab.linux.netns import netns_path
    from netlab.state.store import lab_dir

    assert not any(os.path.exists(netns_path(ns)) for ns in plan.namespaces)
    assert not lab_dir(plan.lab).exists()


@pytest.mark.root
def test_deploy_loads_rulesets_in_process(lab_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NAT and firewall of a node, loaded through libnftables: no `nft` process per node."""
    from netlab.lab import Lab

    plan = compiled(literal_topo(CHAIN, lab_name).replace(
        'kind = "router"', 'kind = "router"\nnat = { masquerade = ["eth1"] }')).plan
    spawned: list[list[str]] = []
    real = subprocess.Popen.__init__

    def record(self, args, *a, **kw):  # type: ignore[no-untyped-def]
        spawned.append(list(args) if not isinstance(args, str) else [args])
        real(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", record)
    lab = Lab.deploy(plan)
    monkeypatch.undo()
    try:
        assert _tables(lab.plan.node("gw").netns) == {"table ip netlab", "table inet netlab_fw"}
        assert not [a for a in spawned if "nft" in os.path.basename(str(a[0]))]
    finally:
        lab.destroy()
