"""What the page draws, computed from plans and probe results (pure: no kernel, no server).

- `graph`: a plan as nodes (hosts, routers, switches) and edges (one per wire, i.e. veth
  pair: "w<index>" with both ends' interface names and addresses);
- `path_of`: a trace (its hops) as the edges packets crossed and where they stopped;
- `check_view`: a check report with each expectation's path;
- `rates`: two counter readings as packets and bytes per second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netlab.plan import wires

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan, Plan
    from netlab.probes.results import CheckReport, TraceResult


def edge_id(index: int) -> str:
    """The page's id of wire `index` (its position in plan.veths)."""
    return f"w{index}"


def graph(plan: Plan) -> dict[str, Any]:
    """The plan as the page's graph: {lab, description, nodes: [...], edges: [...]}."""
    addresses = {(n.name, i.name): i.addresses for n in plan.nodes for i in n.interfaces}
    nodes: list[dict[str, Any]] = []
    for n in plan.nodes:
        nodes.append({"id": n.name, "kind": n.kind, "label": n.name,
                      "addresses": [a for i in n.interfaces for a in i.addresses],
                      "loopback": list(n.loopback)})
    for s in plan.switches:
        subnets = [x for x in (s.subnet, s.subnet6) if x]
        nodes.append({"id": s.name, "kind": "switch", "label": s.name, "subnets": subnets,
                      "addresses": []})
    edges = []
    for w in wires.all_wires(plan):
        ends = []
        for side in (w.a, w.b):
            ends.append({"owner": side.owner, "ifname": side.end.ifname,
                         "addresses": addresses.get((side.owner, side.end.ifname), []),
                         "label": side.label})
        edges.append({"id": edge_id(w.index), "source": w.a.owner, "target": w.b.owner,
                      "a": ends[0], "b": ends[1], "label": w.label})
    return {"lab": plan.lab, "description": plan.description, "nodes": nodes,
            "edges": edges, "expect": len(plan.expect)}


# --- paths on the graph ----------------------------------------------------------------


class _Net:
    """The plan's wires as an adjacency list, for walking paths."""

    def __init__(self, plan: Plan):
        self.switches = {s.name for s in plan.switches}
        self.adj: dict[str, list[tuple[str, str]]] = {}  # owner -> [(neighbour, edge id)]
        for w in wires.all_wires(plan):
            e = edge_id(w.index)
            self.adj.setdefault(w.a.owner, []).append((w.b.owner, e))
            self.adj.setdefault(w.b.owner, []).append((w.a.owner, e))

    def route(self, src: str, dst: str, through_switches_only: bool) -> list[str] | None:
        """Edges of a shortest walk from src to dst (None: none). With
        through_switches_only, the walk may pass switches only (one IP hop)."""
        if src == dst:
            return []
        seen = {src: ("", "")}
        todo = deque([src])
        while todo:
            here = todo.popleft()
            for there, e in self.adj.get(here, []):
                if there in seen:
                    continue
                seen[there] = (here, e)
                if there == dst:
                    out = []
                    while there != src:
                        there, e = seen[there]
                        out.append(e)
                    return out[::-1]
                if not through_switches_only or there in self.switches:
                    todo.append(there)
        return None

    def next_hop(self, src: str, dst: str) -> list[str]:
        """The edges from src up to the next node that is not a switch, on a shortest
        walk towards dst (where a packet that stopped at src would have gone next)."""
        walk = self.route(src, dst, False) or []
        out = []
        here = src
        for e in walk:
            out.append(e)
            here = next(n for n, x in self.adj[here] if x == e)
            if here not in self.switches:
                break
        return out


@dataclass
class PathView:
    """A probe's path: edges packets crossed (green), the node where they stopped and the
    edges beyond it they did not cross (red), and which hop answered last."""

    nodes: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    reached: bool = False
    stopped_at: str | None = None
    blocked: list[str] = field(default_factory=list)
    answered: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": self.edges, "reached": self.reached,
                "stopped_at": self.stopped_at, "blocked": self.blocked,
                "answered": self.answered}


def path_of(plan: Plan, source: str, target_node: str | None, trace: TraceResult,
            net: _Net | None = None) -> PathView:
    """The hops of `trace` (from node `source`) on the graph. target_node: the node that
    owns the target address (None: outside the lab), to draw where packets did not go."""
    net = net or _Net(plan)
    view = PathView(nodes=[source])
    last_hop = None
    for hop in trace.hops:
        if hop.node is None:  # no answer at this TTL: the path is unknown beyond here
            break
        last_hop = hop
        if hop.node != view.nodes[-1]:
            walk = net.route(view.nodes[-1], hop.node, True) or net.route(
                view.nodes[-1], hop.node, False) or []
            view.edges += [e for e in walk if e not in view.edges]
            view.nodes.append(hop.node)
    view.reached = trace.reached
    if last_hop is not None:
        view.answered = f"{last_hop.node} ({last_hop.address})" + (
            f": {last_hop.note}" if last_hop.note else "")
    else:
        notes = [h.note for h in trace.hops if h.note]
        view.answered = notes[0] if notes else "no hop answered"
    if not trace.reached:
        view.stopped_at = view.nodes[-1]
        if target_node is not None and target_node != view.stopped_at:
            view.blocked = net.next_hop(view.stopped_at, target_node)
    return view


def traceable(e: ExpectPlan) -> bool:
    """Whether expectation `e` sends packets from a node to an address (a path to draw):
    reach/port/http checks; not the route, address, neighbour or command ones."""
    return bool(e.from_node and e.target_address and e.route is None and e.address is None
                and e.command is None and e.neighbor is None)


def report_of(data: dict[str, Any]) -> CheckReport:
    """A recorded check (what `netlab check --json` prints) as a CheckReport again."""
    from dataclasses import fields

    from netlab.probes.results import CheckReport, CheckResult

    known = {f.name for f in fields(CheckResult)}
    results = [CheckResult(**{k: v for k, v in r.items() if k in known})
               for r in data.get("results", []) if isinstance(r, dict)]
    return CheckReport(str(data.get("lab", "")), results, float(data.get("elapsed_s", 0.0)))


def drawable(plan: Plan, report: CheckReport) -> set[int]:
    """Indices of the report's expectations that are the plan's own (same index, same
    title): a check of a file with other expectations (`netlab check FILE`) has indices
    that mean something else in the saved plan, and no path is drawn for those."""
    from netlab.probes.check import title

    by_index = {e.index: e for e in plan.expect}
    return {r.index for r in report.results
            if r.index in by_index and title(by_index[r.index]) == r.title}


def check_view(plan: Plan, report: CheckReport,
               traces: dict[int, TraceResult]) -> dict[str, Any]:
    """The report as the page lists it, each expectation with its path (traces: by
    expectation index, for those that were traced)."""
    from netlab.probes import targets

    net = _Net(plan)
    by_index = {e.index: e for e in plan.expect}
    out = []
    for r in report.results:
        item: dict[str, Any] = {"index": r.index, "title": r.title, "passed": r.passed,
                                "seen": r.seen, "hint": r.hint, "details": r.details,
                                "path": None}
        e = by_index.get(r.index)
        if e is not None and r.index in traces and e.target_address:
            target = targets.owner(plan, e.target_address)
            path = path_of(plan, e.from_node, target, traces[r.index], net)
            if r.passed:
                _passed(path, net, target if e.reach else None)
            elif path.reached:  # packets arrived; the answer was wrong
                path.stopped_at = path.nodes[-1]
            item["path"] = path.to_dict()
        out.append(item)
    return {"lab": report.lab, "ok": report.ok, "elapsed_s": report.elapsed_s,
            "passed": sum(r.passed for r in report.results), "total": len(report.results),
            "results": out}


def _passed(path: PathView, net: _Net, reached: str | None) -> None:
    """A passing expectation's path is drawn green only. The trace is ICMP: a firewall
    that drops it may pass the expectation's own probe (tcp/80), whose answer proves the
    packets reached `reached`; the rest of the way is then the shortest walk there."""
    path.stopped_at, path.blocked = None, []
    if reached is not None and not path.reached and path.nodes[-1] != reached:
        walk = net.route(path.nodes[-1], reached, False) or []
        path.edges += [x for x in walk if x not in path.edges]
        path.nodes.append(reached)
        path.reached = True


# --- counters ------------------------------------------------------------------------

COUNTERS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes")


def rates(before: dict[str, int] | None, now: dict[str, int], seconds: float
          ) -> dict[str, float]:
    """Per-second rates of each counter between two readings ({} for the first reading,
    and 0 when a counter went back: the interface was re-created)."""
    if before is None or seconds <= 0:
        return {}
    return {k: max(0.0, (now[k] - before[k]) / seconds) for k in COUNTERS
            if k in now and k in before}


def edge_state(ends: Iterable[dict[str, Any]]) -> str:
    """A wire's state from its ends': missing, cut (taken down with `netlab link ...
    down`), down (an end down, not on purpose), or up."""
    ends = list(ends)
    states = [e.get("state") for e in ends]
    if "missing" in states:
        return "missing"
    if all(s == "up" for s in states):  # whatever an older status reading said
        return "up"
    if any(e.get("held_down") for e in ends):
        return "cut"
    return "down"
