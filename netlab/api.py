"""The Python API: load a topology file (model, graph, plan, and the machine's warnings
about it), and the verbs that act on labs by name (list, destroy, check). Running labs
are `netlab.lab.Lab`. Both reach the machine only through a backend (netlab.backends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import NetlabError, Problem, TopologyError, UsageError

if TYPE_CHECKING:
    import networkx as nx

    from netlab.backends.base import Backend
    from netlab.plan.model import NodePlan, Plan
    from netlab.probes.results import CheckReport
    from netlab.topology.model import TopologyFile


@dataclass
class Topology:
    """A validated topology: its typed model, its graph and its compiled plan."""

    path: str
    model: TopologyFile
    graph: nx.MultiGraph
    plan: Plan
    warnings: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.lab.name


def _backend(backend: Backend | None) -> Backend:
    from netlab import backends

    return backend if backend is not None else backends.get()


def load(path: str | Path, backend: Backend | None = None) -> Topology:
    """Read, validate and compile a topology file; raise TopologyError with every problem
    (the file's, and those the backend's preflight finds with this machine)."""
    # Imported here: verbs on a deployed lab (destroy, exec, status) never compile, and
    # the compiler's imports (networkx, the topology model) cost them ~0.4 s of start-up.
    from netlab.compile.compiler import compile_topology
    from netlab.topology.loader import merge, parse_lenient, read_source

    text, source, imported = read_source(path)  # another tool's lab: imported (#18)
    model, early = parse_lenient(text, source)
    if model is None:
        raise TopologyError(source, early, more_checks_pending=True)
    b = _backend(backend)  # compile itself never asks the machine: the backend does
    try:
        compiled = compile_topology(model, source)
    except TopologyError as e:
        # Problems of the structure (unknown keys) and of the meaning, reported together.
        problems = e.problems + b.preflight(model)
        raise TopologyError(source, merge(early, problems), bool(early)) from None
    machine = b.preflight(model, compiled.plan)
    problems = sorted(compiled.warnings + machine + imported)
    if early:
        raise TopologyError(source, merge(early, problems), more_checks_pending=True)
    if any(p.severity == "error" for p in machine):  # e.g. a sysctl value the kernel refuses
        raise TopologyError(source, problems)
    plan = compiled.plan.model_copy(update={"source_sha256": _sha256(text)})
    return Topology(source, model, compiled.graph, plan, problems)


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


# --- labs by name ----------------------------------------------------------------------

def labs(half_built: bool = False, backend: Backend | None = None) -> list[str]:
    """Deployed labs (with half_built, also interrupted deploys that left state)."""
    return _backend(backend).labs(half_built)


def deployed(backend: Backend | None = None) -> list[tuple[str, Plan | NetlabError]]:
    """Every lab with state, and its plan or why it cannot be read (for `netlab list`)."""
    b = _backend(backend)
    out: list[tuple[str, Plan | NetlabError]] = []
    for name in b.labs(half_built=True):
        try:
            out.append((name, b.plan(name)))
        except NetlabError as e:
            out.append((name, e))
    return out


def destroy(name: str, backend: Backend | None = None) -> Any:
    """Remove a lab by name, even one whose plan is lost or damaged: the backend's report,
    or None when it was not deployed (idempotent). The name must be valid already."""
    return _backend(backend).destroy(name)


def check(target: str | Path | None = None, lab: str | None = None, retry: float = 0.0,
          backend: Backend | None = None) -> CheckReport:
    """Run expectations against a deployed lab, as `netlab check TARGET --lab LAB` does.

    target: a deployed lab's name (its saved expectations), a topology file or bundled
    lab's name (that file's expectations, against the lab it names or `lab`), or None
    (the saved expectations of `lab`, or of the only deployed lab). retry: seconds to
    re-run failed reach expectations (services started by `exec` may still be starting).
    A file is checked only in the lab it names, and only while that lab is deployed as the
    file describes it (plan_differences): UsageError otherwise, before any probe.
    """
    from netlab.lab import Lab

    b = _backend(backend)
    expectations = None
    name = _deployed_name(str(target), lab, b) if target is not None else None
    if name is None and target is not None:
        from netlab.topology.library import resolve

        path = resolve(str(target))  # a path, or a bundled lab's name
        if (same := _deployed_from(path, lab, b)) is not None:
            return Lab.attach(same, b).check(expectations, retry=retry)
        topo = load(path, b)
        if lab is not None and lab != topo.name:  # the other lab's addresses would be probed
            raise UsageError(
                f"{target} is the topology of lab {topo.name!r}, not {lab!r}: its"
                f" expectations cannot be checked in lab {lab!r}. Check lab {topo.name!r}"
                f" with `netlab check {target}`, or lab {lab!r} with `netlab check --lab"
                f" {lab}` (its saved expectations) or with its own topology file")
        attached = Lab.attach(topo.name, b)
        if diff := plan_differences(topo.plan, attached.plan):
            raise UsageError(_stale(str(target), topo.name, diff))
        return attached.check(topo.plan.expect, retry=retry)
    return Lab.attach(name if name is not None else lab, b).check(expectations, retry=retry)


def last_check(lab: str, report: CheckReport | None = None,
               origin: str = "cli") -> dict[str, Any] | None:
    """The lab's last check, kept in its state (netlab/state/lastcheck.py) for the web
    view: with `report`, record it (origin "cli": `netlab check`, "web": the page) and
    return the record; without, the record last written. A record is {"at", "origin",
    "report": what `netlab check --json` prints}; None: none (or the lab is gone)."""
    from netlab.state import lastcheck

    if report is not None:
        return lastcheck.write(lab, report.to_dict(), origin)
    return lastcheck.read(lab)


def _deployed_from(path: str | Path, lab: str | None, b: Backend) -> str | None:
    """The deployed lab compiled from exactly this file's text, at this path (its saved
    plan and expectations are what compiling the file again would give): its name, or
    None (then the file is compiled and compared). Reads the file as `load` does, without
    the compiler, so that `netlab check natgw` on a lab deployed from it starts fast."""
    import tomllib

    from netlab.errors import NetlabError
    from netlab.importers import format_of
    from netlab.topology.safefile import read_text

    if format_of(path) is not None:  # another tool's lab: converted when loaded
        return None
    try:
        text = read_text(path)
        name = tomllib.loads(text).get("lab", {}).get("name")
        if not isinstance(name, str) or lab not in (None, name) or name not in b.labs():
            return None
        saved = b.plan(name)
    except (NetlabError, OSError, ValueError, AttributeError):
        return None  # load says what is wrong, or compares
    same = saved.source == str(path) and saved.source_sha256 == _sha256(text)
    return name if same else None


def _stale(target: str, name: str, diff: list[str]) -> str:
    shown = diff[:_SHOWN] + ([f"... and {len(diff) - _SHOWN} more"] if len(diff) > _SHOWN
                             else [])
    return (f"{target} differs from the deployed lab {name!r}, so its expectations would"
            " probe a network that is not there:\n" + "".join(f"  {d}\n" for d in shown)
            + f"redeploy the lab from the file first: `netlab deploy {target} --force`"
            f" (or `netlab destroy {name}`, then `netlab deploy {target}`)")


_SHOWN = 6  # differences listed; the rest are counted


def plan_differences(file: Plan, deployed: Plan) -> list[str]:
    """What differs between a file's plan and a deployed lab's, of what a probe depends on
    (nodes, their kinds, interfaces, wires, addresses, routes, sysctls, firewall and NAT;
    switches), one line each. Not compared: namespace names and the source path (the same
    lab deployed from a copy, or with another prefix, is probed alike), link shaping (the
    link verbs change it at run time) and the expectations themselves (editing them and
    checking again is what `check FILE` is for)."""
    out: list[str] = []
    mine, theirs = {n.name: n for n in file.nodes}, {n.name: n for n in deployed.nodes}
    out += [f"node {n}: in the file, not deployed" for n in mine if n not in theirs]
    out += [f"node {n}: deployed, not in the file" for n in theirs if n not in mine]
    for name in (n for n in mine if n in theirs):
        a, b = mine[name], theirs[name]
        if a.kind != b.kind:
            out.append(f"node {name}: a {a.kind} in the file, a {b.kind} deployed")
        out += _interface_differences(name, a, b)
        ra, rb = _routes(a), _routes(b)
        out += [f"node {name}: route {r} in the file, not deployed" for r in ra if r not in rb]
        out += [f"node {name}: route {r} deployed, not in the file" for r in rb if r not in ra]
        for what, x, y in (("sysctls", a.sysctls, b.sysctls),
                           ("firewall rules", a.nftables, b.nftables), ("NAT", a.nat, b.nat)):
            if x != y:
                out.append(f"node {name}: {what} differ between the file and the deployed lab")
    sa = {s.name: (s.subnet, sorted(p.node for p in s.ports)) for s in file.switches}
    sb = {s.name: (s.subnet, sorted(p.node for p in s.ports)) for s in deployed.switches}
    out += [f"switch {s}: in the file, not deployed" for s in sa if s not in sb]
    out += [f"switch {s}: deployed, not in the file" for s in sb if s not in sa]
    out += [f"switch {s}: subnet {sa[s][0]} in the file, {sb[s][0]} deployed"
            for s in sa if s in sb and sa[s][0] != sb[s][0]]
    return out


def _interface_differences(node: str, a: NodePlan, b: NodePlan) -> list[str]:
    out: list[str] = []
    ia, ib = {i.name: i for i in a.interfaces}, {i.name: i for i in b.interfaces}
    out += [f"node {node}: interface {i} in the file, not deployed" for i in ia if i not in ib]
    out += [f"node {node}: interface {i} deployed, not in the file" for i in ib if i not in ia]
    for name in (i for i in ia if i in ib):
        x, y = ia[name], ib[name]
        if x.addresses != y.addresses:
            out.append(f"node {node} {name}: address {', '.join(x.addresses) or 'none'} in the"
                       f" file, {', '.join(y.addresses) or 'none'} deployed")
        if (x.peer.node, x.peer.ifname) != (y.peer.node, y.peer.ifname):
            out.append(f"node {node} {name}: wired to {x.peer.node}:{x.peer.ifname} in the"
                       f" file, {y.peer.node}:{y.peer.ifname} deployed")
        if x.mtu != y.mtu:
            out.append(f"node {node} {name}: mtu {x.mtu} in the file, {y.mtu} deployed")
    return out


def _routes(n: NodePlan) -> list[str]:
    return [r.to + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "")
            for r in n.routes]


def _deployed_name(text: str, lab: str | None, b: Backend) -> str | None:
    """`text` when it names a deployed lab and no bundled lab (a bundled lab's name comes
    first, as in deploy); None otherwise (a path, a bundled lab, or nothing deployed)."""
    from netlab.topology.library import is_path, names

    if is_path(text) or lab not in (None, text) or text in names():
        return None
    return text if text in b.labs() else None
