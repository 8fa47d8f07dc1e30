"""The backend seam (netlab/backends): Lab, the API, the CLI verbs and the probes reach the
machine only through a registered Backend. A fake backend registered here receives every
call and touches nothing; and no module outside netlab/backends imports the kernel
backend's modules. Pure: no root, no namespace, no packet."""

from __future__ import annotations

import ast
import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from netlab import backends
from netlab.backends.base import Backend, EndState
from netlab.plan.model import Plan
from tests.support import REPO

PACKAGE = REPO / "netlab"
PLAN = Plan.from_json((REPO / "tests/golden/plans/lan4.json").read_text())  # pc1..pc4, sw


class Refused(Exception):
    """What the fake's open_socket raises: no probe ever gets a real socket here."""


class FakeBackend:
    """Records every call; deploys nothing. One lab, PLAN, is 'deployed'."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.deployed = [PLAN.lab]
        self.machine: list[Any] = []  # what preflight finds

    def _note(self, *call: Any) -> None:
        self.calls.append(call)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def built(self, plan: Plan) -> Plan:
        self._note("built", plan.lab)
        return plan

    def preflight(self, model: Any, plan: Plan | None = None) -> list[Any]:
        self._note("preflight", model.lab.name, plan is not None)
        return list(self.machine)

    def deploy(self, plan: Plan, force: bool = False) -> None:
        self._note("deploy", plan.lab, force)

    def destroy(self, lab: str) -> Any:
        self._note("destroy", lab)
        return SimpleNamespace(namespaces=5, processes=0, skipped=[])

    def labs(self, half_built: bool = False) -> list[str]:
        self._note("labs", half_built)
        return list(self.deployed)

    def resolve(self, lab: str | None) -> str:
        self._note("resolve", lab)
        return lab or self.deployed[0]

    def plan(self, lab: str) -> Plan:
        self._note("plan", lab)
        return PLAN

    def deployed_at(self, lab: str) -> float | None:
        self._note("deployed_at", lab)
        return None

    def status(self, lab: str) -> Any:
        self._note("status", lab)
        return SimpleNamespace(drift=["node pc1: interface eth0 is down"],
                               to_dict=lambda: {"lab": lab, "drift": ["x"]})

    def run(self, plan: Plan, node: Any, argv: list[str], **kw: Any) -> Any:
        self._note("run", node.name, argv)
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    def enter(self, plan: Plan, name: str) -> None:
        self._note("enter", name)

    def nftables(self, plan: Plan, node: Any) -> str:
        self._note("nftables", node.name)
        return ""

    def load_nftables(self, plan: Plan, node: Any, ruleset: str) -> None:
        self._note("load_nftables", node.name)

    def open_socket(self, netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
        self._note("open_socket", netns, family, type_)
        raise Refused(netns)

    def raise_neighbour_limits(self, lab: str, entries: int, target: dict[str, int]
                               ) -> list[str]:
        self._note("raise_neighbour_limits", lab)
        return []

    def set_link(self, plan: Plan, wire: Any, up: bool) -> None:
        self._note("set_link", wire.label, up)

    def set_shaping(self, plan: Plan, wire: Any, new: dict[str, Any]) -> None:
        self._note("set_shaping", wire.label, new)

    def shaping(self, plan: Plan, end: Any) -> Any:
        self._note("shaping", end.netns)
        return None

    def link_state(self, plan: Plan, wire: Any) -> tuple[EndState, EndState]:
        self._note("link_state", wire.label)
        return EndState(True, None), EndState(False, None)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """FakeBackend registered as "fake" and made the default; the instance cache is
    private to the test."""
    monkeypatch.setitem(backends.BACKENDS, "fake", f"{__name__}:FakeBackend")
    monkeypatch.setattr(backends, "DEFAULT", "fake")
    monkeypatch.setattr(backends, "_made", {})
    b = backends.get()
    assert isinstance(b, FakeBackend)
    return b


def test_registry_gives_the_default_and_refuses_unknown_names(fake: FakeBackend) -> None:
    assert backends.get() is fake  # one instance per registration
    assert backends.for_plan(PLAN) is fake
    assert isinstance(fake, Backend)  # it satisfies the protocol
    with pytest.raises(KeyError, match="no backend 'nope'"):
        backends.get("nope")


def test_kernel_backend_satisfies_the_protocol() -> None:
    from netlab.backends.kernel.backend import KernelBackend

    assert isinstance(KernelBackend(), Backend)
    missing = [m for m in _protocol_methods() if not callable(getattr(KernelBackend, m, None))]
    assert not missing


def _protocol_methods() -> list[str]:
    return [n for n, v in vars(Backend).items() if callable(v) and not n.startswith("_")]


def test_lab_goes_through_the_backend(fake: FakeBackend, tmp_path: Path) -> None:
    from netlab import api
    from netlab.lab import Lab

    topo = api.load(REPO / "topologies/lan4.toml")
    # load asks the backend about the machine, with the compiled plan; compile never does
    assert fake.calls == [("preflight", "lan4", True)]
    lab = Lab.deploy(topo, force=True)
    assert fake.calls[-1] == ("deploy", "lan4", True)

    lab = Lab.attach()
    assert fake.calls[-3:] == [("resolve", None), ("plan", "lan4"), ("deployed_at", "lan4")]
    assert lab.status().drift
    assert fake.calls[-1] == ("status", "lan4")
    lab.exec("pc1", ["ip", "addr"])
    assert fake.calls[-1] == ("run", "pc1", ["ip", "addr"])
    lab.enter("sw")  # a switch can be entered (exec lan -- bridge fdb)
    lab.enter("pc2")
    assert fake.calls[-2:] == [("enter", "sw"), ("enter", "pc2")]

    lab.link_up("pc1", "sw", False)
    assert fake.calls[-1][0] == "set_link" and fake.calls[-1][2] is False
    changed = lab.link_set("pc1", "sw", {"rate": "1mbit", "delay": None, "jitter": None,
                                         "loss": None}, from_="pc1")
    assert [side.owner for side, _ in changed] == ["pc1"]
    assert changed[0][1] is not None and changed[0][1].rate_bit == 1_000_000
    assert fake.names()[-2:] == ["shaping", "set_shaping"]
    assert [s.up for _, s in lab.link_state("pc1", "sw")] == [True, False]

    lab.destroy()
    assert fake.calls[-1] == ("destroy", "lan4")
    assert api.labs(half_built=True) == ["lan4"]
    assert api.destroy("lan4").namespaces == 5
    assert [n for n, _ in api.deployed()] == ["lan4"]


@pytest.mark.parametrize("probe", ["ping", "trace", "probe", "capture", "route"])
def test_probes_open_sockets_through_the_backend(fake: FakeBackend, probe: str) -> None:
    from netlab.lab import Lab

    lab = Lab.attach("lan4")
    calls = {"ping": lambda: lab.ping("pc1", "pc2", count=1, timeout=0.1),
             "trace": lambda: lab.trace("pc1", "pc2", max_hops=1, timeout=0.1),
             "probe": lambda: lab.probe("pc1", "pc2", "tcp", 80, timeout=0.1),
             "capture": lambda: lab.capture("pc1:eth0", count=1, timeout=0.1),
             "route": lambda: lab.route("pc1", "pc2")}
    with pytest.raises(Refused):
        calls[probe]()
    opened = [c for c in fake.calls if c[0] == "open_socket"]
    assert opened and opened[0][1] == PLAN.node("pc1").netns


def test_check_opens_its_sockets_through_the_backend(fake: FakeBackend) -> None:
    from netlab.lab import Lab

    report = Lab.attach("lan4").check(PLAN.expect[:1])
    assert not report.ok  # the fake refuses every socket: the expectation fails, says why
    assert ("open_socket", PLAN.node("pc1").netns) == fake.calls[-1][:2] or any(
        c[:2] == ("open_socket", PLAN.node("pc1").netns) for c in fake.calls)


def test_preflight_errors_stop_load_like_topology_errors(fake: FakeBackend) -> None:
    from netlab import api
    from netlab.errors import Problem, TopologyError

    path = REPO / "topologies/lan4.toml"
    warn = Problem("links[0]", "delay needs netem, which this kernel lacks", "drop delay",
                   "warning")
    fake.machine = [warn]
    assert warn in api.load(path).warnings  # a warning: loaded, shown
    bad = Problem("nodes.pc1.sysctl", "the kernel refuses 'x'", "give a number")
    fake.machine = [warn, bad]
    with pytest.raises(TopologyError) as e:
        api.load(path)
    assert e.value.exit_code == 2
    assert e.value.problems == sorted([warn, bad])
    assert e.value.render().endswith("1 error, 1 warning; nothing was built")


# --- the CLI verbs: parse, call the API, print --------------------------------------------

@pytest.fixture
def cli(fake: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `netlab ARGS` in-process against the fake, as if root (nothing is touched)."""
    from netlab.cli import app

    monkeypatch.setattr(os, "geteuid", lambda: 0)

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))  # a Refused socket: out.exception

    return run


def test_validate_and_deploy_exit_2_on_preflight_errors(cli: Any, fake: FakeBackend) -> None:
    from netlab.errors import Problem

    fake.machine = [Problem("nodes.pc1.sysctl", "the kernel refuses 'x'", "give a number")]
    for verb in ("validate", "deploy"):
        out = cli(verb, str(REPO / "topologies/lan4.toml"))
        assert out.exit_code == 2, out.output
        assert "nodes.pc1.sysctl: the kernel refuses 'x'\n  fix: give a number" in out.stderr
        assert "Traceback" not in out.output
    assert "deploy" not in fake.names()


def test_cli_verbs_go_through_the_backend(cli: Any, fake: FakeBackend) -> None:
    out = cli("status", "--lab", "lan4", "--json")
    assert out.exit_code == 1, out.output  # drift: exit 1
    assert json.loads(out.stdout)["lab"] == "lan4"
    assert ("status", "lan4") in fake.calls

    out = cli("link", "pc1", "sw", "down")
    assert out.exit_code == 0, out.output
    assert fake.names()[-1] == "set_link"
    out = cli("link", "pc1", "sw", "set", "--rate", "2mbit", "--from", "pc1")
    assert out.exit_code == 0, out.output
    assert "pc1" in out.stdout and "2mbit" in out.stdout
    assert fake.names()[-1] == "set_shaping"
    out = cli("link", "pc1", "sw")
    assert out.exit_code == 0 and "down" in out.stdout, out.output
    assert fake.names()[-1] == "link_state"

    out = cli("list")
    assert out.exit_code == 0 and "lan4" in out.stdout, out.output
    out = cli("destroy", "--all")
    assert out.exit_code == 0 and "destroyed lab lan4" in out.stdout, out.output
    assert ("labs", True) in fake.calls and ("destroy", "lan4") in fake.calls

    out = cli("ping", "pc1", "pc2", "--lab", "lan4", "-c", "1")  # header: a route lookup
    assert isinstance(out.exception, Refused)
    assert fake.names()[-1] == "open_socket"


# --- nothing outside netlab/backends imports the kernel backend ---------------------------

# Modules outside netlab/backends allowed to import netlab.backends.kernel, and why.
ALLOWED: dict[str, str] = {}


def _kernel_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        if any(n == "netlab.backends.kernel" or n.startswith("netlab.backends.kernel.")
               for n in names):
            found.append(f"{path}:{node.lineno}")
    return found


def test_no_module_outside_backends_imports_the_kernel_backend() -> None:
    offenders = [hit for path in sorted(PACKAGE.rglob("*.py"))
                 if not path.is_relative_to(PACKAGE / "backends")
                 and str(path.relative_to(REPO)) not in ALLOWED
                 for hit in _kernel_imports(path)]
    assert not offenders, f"use netlab.backends.get()/for_plan() instead: {offenders}"


def test_the_import_scan_finds_an_import(tmp_path: Path) -> None:
    # The scan itself can fail: both import forms are seen, a look-alike name is not.
    f = tmp_path / "probe.py"
    f.write_text("from netlab.backends import kernel\nimport netlab.backends.kernel.apply\n"
                 "import netlab.backends.kernelish\nfrom netlab.backends import base\n")
    assert len(_kernel_imports(f)) == 2
