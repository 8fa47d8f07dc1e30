"""Bad input, deploy half: random and mutated topologies through `netlab deploy` never
end in a traceback or a partly built lab; every rejection exits 2 with a message. Hostile
names, and names of things the host already has, are refused before anything is touched."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.support import host, topogen
from tests.support.cli import no_traceback
from tests.support.cli import run as cli
from tests.support.host import settled_leftovers
from tests.support.names import renamed_doc, run_prefix

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

NAME = f"{P}fz"
SEEDS = topogen.bundled_docs()


def _no_exec(v: Any) -> Any:
    # exec runs commands through /bin/sh as root: random strings must never get there.
    if isinstance(v, dict):
        return {k: _no_exec(x) for k, x in v.items() if k != "exec"}
    if isinstance(v, list):
        return [_no_exec(x) for x in v]
    return v


def _ours(doc: dict[str, Any]) -> dict[str, Any]:
    """Whatever the document, any lab it could build is named (and prefixed) NAME and
    runs no commands."""
    doc = _no_exec(doc)
    if isinstance(doc.get("lab"), dict):
        renamed_doc(doc, NAME)
    return doc


def _compiles(doc: dict[str, Any]) -> bool:
    """Valid topologies, so that a third of the examples really deploy."""
    from netlab.compile.compiler import compile_topology
    from netlab.errors import TopologyError
    from netlab.topology.loader import parse

    try:
        compile_topology(parse(topogen.toml_dumps(doc), "f.toml"), "f.toml")
    except TopologyError:
        return False
    return True


_EXAMPLES = int(os.environ.get("NETLAB_FUZZ_DEPLOY_EXAMPLES", "15"))
_SETTINGS = settings(max_examples=_EXAMPLES, deadline=None,
                     suppress_health_check=list(HealthCheck))


@_SETTINGS
@given(topogen.plausible_docs().map(_ours).filter(_compiles))
def test_fuzz_deploy_valid_topologies(tmp_path_factory: pytest.TempPathFactory,
                                      doc: dict[str, Any]) -> None:
    assert _deploy_all_or_nothing(tmp_path_factory, doc) == 0


@_SETTINGS
@given(st.one_of(topogen.mutated_docs(SEEDS), topogen.topology_docs()).map(_ours))
def test_fuzz_deploy_random_topologies(tmp_path_factory: pytest.TempPathFactory,
                                       doc: dict[str, Any]) -> None:
    _deploy_all_or_nothing(tmp_path_factory, doc)


def _deploy_all_or_nothing(tmp_path_factory: pytest.TempPathFactory,
                           doc: dict[str, Any]) -> int:
    """Deploy doc through the CLI: 0 and a healthy lab (then destroyed), or a message,
    exit 1 (kernel) or 2 (input) and nothing built. Never a traceback."""
    from netlab.cli import app
    from netlab.lab import Lab

    path = tmp_path_factory.mktemp("fz") / "t.toml"
    path.write_text(topogen.toml_dumps(doc))
    try:
        r = CliRunner().invoke(app, ["deploy", str(path)])
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert "Traceback" not in r.output
        assert r.exit_code in (0, 1, 2), r.output
        if r.exit_code == 0:
            st_ = Lab.attach(NAME).status()
            assert st_.drift == [], st_.drift
            Lab.attach(NAME).destroy()
        else:
            assert "error" in r.output.lower(), r.output
        assert settled_leftovers(NAME) == [], r.output
        return r.exit_code
    finally:
        if host.leftovers(NAME):
            host.force_clean(NAME)


HOSTILE = {
    "path lab name": {"lab": {"name": f"../../etc/{P}x"}, "nodes": {"pc1": {}}},
    "shell lab name": {"lab": {"name": "t5;rm -rf /"}, "nodes": {"pc1": {}}},
    "long lab name": {"lab": {"name": "t5" + "x" * 298}, "nodes": {"pc1": {}}},
    "look-alike lab name": {"lab": {"name": "t5\u0430x"}, "nodes": {"pc1": {}}},
    "path node": {"lab": {"name": f"{P}hn"}, "nodes": {f"../../etc/{P}x": {}}},
    "shell ifname": {"lab": {"name": f"{P}hn"}, "nodes": {"a": {}, "b": {}},
                     "links": [{"endpoints": ["a:e;reboot", "b"]}]},
    "path prefix": {"lab": {"name": f"{P}hn", "prefix": "../t5"}, "nodes": {"a": {}}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_names_rejected_by_deploy(labs, case: str) -> None:  # type: ignore[no-untyped-def]
    labs.track(f"{P}hn")
    run_before = sorted(os.listdir(host.run_dir())) if host.run_dir().exists() else []
    file = labs.tmp / "hostile.toml"
    file.write_text(topogen.toml_dumps(HOSTILE[case]))
    r = cli("deploy", str(file))
    assert r.returncode == 2 and no_traceback(r), r.stderr
    assert "nothing was built" in r.stderr
    assert not Path(f"/etc/{P}x").exists() and not Path(f"/run/{P}x").exists()
    after = sorted(os.listdir(host.run_dir())) if host.run_dir().exists() else []
    # New state of this run's labs, or with a hostile name; another run's labs (its own
    # t5<4 hex> prefix) come and go in a shared run directory meanwhile.
    assert [n for n in after if n not in run_before and "t5" in n
            and (P in n or not re.match(r"\.?t5[0-9a-f]{4}", n))] == []
    assert not [n for n in host.netns_names() if f"{P}x" in n or n.startswith(f"{P}hn")]


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.mark.parametrize("clash", ["netns", "host link", "host nft table", "etc file"])
def test_names_of_existing_host_objects_rejected(labs, clash: str) -> None:  # type: ignore[no-untyped-def]
    """With prefix = "" a node may be named like any namespace; an uplink's host side may
    be named like an existing interface. deploy refuses (exit 2, nothing built) and the
    existing object is untouched."""
    lab = f"{P}hc"
    text = (f'lab = {{name = "{lab}", prefix = ""}}\n'
            f'nodes.{P}hcgw = {{kind = "router"}}\nnodes.{P}hcpc = {{}}\n'
            f'links = [{{endpoints = ["{P}hcgw", "{P}hcpc"]}}]\n'
            f'uplink = {{node = "{P}hcgw"}}\n')
    file = labs.write(lab, text, prefix=f"{P}hc")  # bare node names: t5hcgw, t5hcpc
    make, undo, present = {
        "netns": (["ip", "netns", "add", f"{P}hcpc"], ["ip", "netns", "del", f"{P}hcpc"],
                  lambda: f"{P}hcpc" in host.netns_names()),
        "host link": (["ip", "link", "add", f"nl-{P}hc", "type", "veth", "peer", "name",
                       f"{P}hcpeer"], ["ip", "link", "del", f"nl-{P}hc"],
                      lambda: f"nl-{P}hc" in host.host_links()),
        "host nft table": (["nft", "add", "table", "ip", f"netlab-{P}hc"],
                           ["nft", "delete", "table", "ip", f"netlab-{P}hc"],
                           lambda: f"table ip netlab-{P}hc" in host.nft_tables()),
        "etc file": (["sh", "-c", f"mkdir -p /etc/netns/{P}hcgw && echo x >"
                      f" /etc/netns/{P}hcgw/hosts"], ["rm", "-rf", f"/etc/netns/{P}hcgw"],
                     lambda: Path(f"/etc/netns/{P}hcgw/hosts").read_text() == "x\n"),
    }[clash]
    _sh(*make)
    try:
        r = cli("deploy", str(file))
        assert r.returncode == 2 and no_traceback(r), r.stderr
        assert "nothing was built" in r.stderr, r.stderr
        assert present(), f"deploy touched the existing {clash}"
        assert f"{P}hcgw" not in host.netns_names()
        assert not (host.run_dir() / lab).exists()
    finally:
        subprocess.run(undo, capture_output=True)
