"""Where the web view gets its labs and does its actions: `ApiSource`, through netlab's
API (netlab.api, netlab.lab.Lab) as the CLI does; `PlanSource`, compiled plans only (no
kernel: a preview, the layout benchmark, the tests of the page)."""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import UsageError
from netlab.web import view

if TYPE_CHECKING:
    from netlab.backends.base import Backend
    from netlab.lab import Lab
    from netlab.plan.model import Plan

EXEC_TIMEOUT = 30.0  # seconds a command from the page may run
OUTPUT_MAX = 64 * 1024  # characters of its output shown
CAPTURE_MAX_S = 60.0
CAPTURE_MAX_PACKETS = 100_000
TRACE_WORKERS = 8
RATELIMIT_S = 1.6  # icmp_ratelimit (1 s per destination), with room: measured here


class Source:
    """What the server needs; every method blocks (the server runs them in threads)."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def plan(self, lab: str) -> Plan:
        raise NotImplementedError

    def sample(self, lab: str) -> dict[str, Any]:
        """Live state (live.Watch.sample's shape)."""
        raise NotImplementedError

    def changed(self, lab: str) -> None:
        """An action changed the lab: read its status again at the next sample."""

    def release(self, lab: str) -> None:
        """Nobody watches `lab` now: let go of what sampling it holds."""

    def recheck(self, lab: str) -> str:
        """Whether `lab` is still the lab being watched: "same", "gone" (destroyed) or
        "new" (deployed again, maybe from another file: the page draws it anew)."""
        return "same" if lab in self.names() else "gone"

    def check(self, lab: str) -> dict[str, Any]:
        """Run the lab's expectations, record them as its last check (origin "web"), and
        return check_view's answer with the record's "at" and "origin"."""
        raise NotImplementedError

    def last_check(self, lab: str) -> dict[str, Any] | None:
        """The lab's last check as recorded (api.last_check: {"at", "origin", "report"}),
        by `netlab check` or by the page; None: none."""
        return None

    def show_check(self, lab: str, record: dict[str, Any]) -> dict[str, Any]:
        """A recorded check as check() answers it, paths traced now."""
        plan = self.plan(lab)
        return _shown(view.check_view(plan, view.report_of(record["report"]), {}), record)

    def trace(self, lab: str, src: str, dst: str) -> dict[str, Any]:
        raise NotImplementedError

    def link(self, lab: str, a: str, b: str, action: str,
             values: dict[str, str | None]) -> str:
        raise NotImplementedError

    def exec(self, lab: str, node: str, command: str) -> dict[str, Any]:
        raise NotImplementedError

    def capture(self, lab: str, where: str, seconds: float, count: int | None,
                bpf: str | None) -> tuple[bytes, int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ApiSource(Source):
    """Deployed labs, through netlab's API: exactly what the CLI verbs call."""

    def __init__(self, backend: Backend | None = None):
        from netlab import backends

        self.backend = backend if backend is not None else backends.get()
        self.watches: dict[str, Any] = {}
        self.lock = threading.Lock()  # the server calls from several threads

    def names(self) -> list[str]:
        from netlab import api

        return api.labs(backend=self.backend)

    def _lab(self, lab: str) -> Lab:
        from netlab.lab import Lab

        return Lab.attach(lab, self.backend)

    def plan(self, lab: str) -> Plan:
        return self._lab(lab).plan

    def _watch(self, lab: str) -> Any:
        from netlab.web.live import Watch

        with self.lock:
            w = self.watches.get(lab)
            if w is None:
                w = self.watches[lab] = Watch(self.plan(lab), self.backend)
            return w

    def sample(self, lab: str) -> dict[str, Any]:
        return self._watch(lab).sample()  # type: ignore[no-any-return]

    def changed(self, lab: str) -> None:
        if lab in self.watches:
            self.watches[lab].refresh_status()

    def recheck(self, lab: str) -> str:
        if lab not in self.names():
            self.forget(lab)
            return "gone"
        w = self.watches.get(lab)
        if w is not None and w.plan != self.plan(lab):
            self.forget(lab)
            return "new"
        return "same"

    def release(self, lab: str) -> None:
        self.forget(lab)

    def forget(self, lab: str) -> None:
        """The lab is gone (destroyed, or redeployed: a new plan), or nobody watches it:
        close its sockets (they would keep a destroyed lab's namespaces in the kernel)."""
        w = self.watches.pop(lab, None)
        if w is not None:
            w.close()

    def check(self, lab: str) -> dict[str, Any]:
        from netlab import api

        handle = self._lab(lab)
        report = api.check(lab=lab, backend=self.backend)
        record = api.last_check(lab, report, origin="web") or {
            "at": time.time(), "origin": "web"}  # the lab went meanwhile: shown, not kept
        return _shown(view.check_view(handle.plan, report, trace_expectations(handle)),
                      record)

    def last_check(self, lab: str) -> dict[str, Any] | None:
        from netlab import api

        return api.last_check(lab)

    def show_check(self, lab: str, record: dict[str, Any]) -> dict[str, Any]:
        # The paths of a check made elsewhere (`netlab check`) are traced when the page
        # first shows it: a check records whether expectations passed, not which way.
        handle = self._lab(lab)
        report = view.report_of(record["report"])
        traces = trace_expectations(handle, view.drawable(handle.plan, report))
        return _shown(view.check_view(handle.plan, report, traces), record)

    def trace(self, lab: str, src: str, dst: str) -> dict[str, Any]:
        from netlab.probes import targets

        handle = self._lab(lab)
        result = patient_trace(handle, src, dst)
        path = view.path_of(handle.plan, src, targets.owner(handle.plan, result.address),
                            result)
        return {"source": src, "target": dst, "address": result.address,
                "reached": result.reached, "hops": result.to_dict()["hops"],
                "path": path.to_dict()}

    def link(self, lab: str, a: str, b: str, action: str,
             values: dict[str, str | None]) -> str:
        from netlab.compile.linkprops import describe

        handle = self._lab(lab)
        try:
            if action in ("up", "down"):
                return f"{handle.link_up(a, b, action == 'up').label}: {action}"
            if action == "set":
                clear = values.pop("clear", None) is not None
                done = handle.link_set(a, b, values, None, clear)
                return "; ".join(f"{side.label} sends: {describe(s) or 'unshaped'}"
                                 for side, s in done)
            raise UsageError(f"unknown link action {action!r}: use up, down or set")
        finally:
            self.changed(lab)

    def exec(self, lab: str, node: str, command: str) -> dict[str, Any]:
        import subprocess

        handle = self._lab(lab)
        start = time.monotonic()
        try:
            done = handle.exec(node, command, timeout=EXEC_TIMEOUT,
                               stdin=subprocess.DEVNULL)
            code, out, err = done.returncode, done.stdout or "", done.stderr or ""
        except subprocess.TimeoutExpired as e:
            code = None
            out = _text(e.stdout)
            err = _text(e.stderr) + f"\n(stopped after {EXEC_TIMEOUT:g} s)"
        return {"node": node, "command": command, "returncode": code,
                "stdout": out[-OUTPUT_MAX:], "stderr": err[-OUTPUT_MAX:],
                "elapsed_s": round(time.monotonic() - start, 3)}

    def capture(self, lab: str, where: str, seconds: float, count: int | None,
                bpf: str | None) -> tuple[bytes, int]:
        handle = self._lab(lab)
        with tempfile.TemporaryDirectory(prefix="netlab-web-") as d:
            path = Path(d) / "capture.pcap"
            n = handle.capture(where, write=path, count=count, bpf=bpf, echo=lambda _: None,
                               timeout=seconds)
            return path.read_bytes(), n

    def close(self) -> None:
        for lab in list(self.watches):
            self.forget(lab)


def patient_trace(handle: Lab, src: str, dst: str) -> Any:
    """Lab.trace, tried again once RATELIMIT_S later when no hop answered, or a hop was
    silent while a later one answered: routers answer a burst of 6 ICMP errors per
    destination, then one a second (icmp_ratelimit), so a trace right after a check's
    probes (or another trace) may hear nothing, or nothing from one router on the way,
    and the path drawn would end there. The retry is kept if it heard more hops."""
    t = handle.trace(src, dst, timeout=0.5)
    if _silent_hops(t) is not None:
        time.sleep(RATELIMIT_S)
        again = handle.trace(src, dst, timeout=0.5)
        if (again.reached, -(_silent_hops(again) or 0)) >= (t.reached, -(_silent_hops(t) or 0)):
            t = again
    return t


def _silent_hops(t: Any) -> int | None:
    """How many hops were silent before one that answered (or anything at all, when no hop
    answered); None when nothing was silent that a router's rate limit could explain (a
    path whose last hops are silent ends in a black hole: asking again changes nothing)."""
    answered = [h.address is not None for h in t.hops]
    if not any(answered):
        return None if t.reached else len(answered) or 1
    last = max(i for i, a in enumerate(answered) if a)
    gaps = answered[:last].count(False)
    return gaps or None


def _shown(out: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    out.update(at=record["at"], origin=record["origin"])
    return out


def trace_expectations(handle: Lab, only: set[int] | None = None) -> dict[int, Any]:
    """A trace for each expectation that sends packets (view.traceable), by expectation
    index (a trace that fails is left out: no path drawn); `only`: of these indices. One
    trace per source and target, in parallel (patient_trace)."""
    items = [e for e in handle.plan.expect
             if view.traceable(e) and (only is None or e.index in only)]
    pairs = sorted({(e.from_node, e.target_address) for e in items})
    if not pairs:
        return {}

    def one(pair: tuple[str, str]) -> tuple[tuple[str, str], Any]:
        try:
            return pair, patient_trace(handle, *pair)
        except Exception:  # a broken lab: the expectation is listed, without a path
            return pair, None

    with ThreadPoolExecutor(max_workers=min(TRACE_WORKERS, len(pairs))) as pool:
        traces = dict(pool.map(one, pairs))
    return {e.index: traces[(e.from_node, e.target_address)] for e in items
            if traces.get((e.from_node, e.target_address)) is not None}


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


class PlanSource(Source):
    """Compiled plans shown as if deployed, every link up, no traffic: for previews,
    the layout benchmark and the tests of the page. Actions are recorded, not done."""

    def __init__(self, plans: list[Plan]):
        self.plans = {p.lab: p for p in plans}
        self.actions: list[tuple[Any, ...]] = []
        self.down: set[str] = set()  # edge ids cut by a link action

    def names(self) -> list[str]:
        return sorted(self.plans)

    def plan(self, lab: str) -> Plan:
        if lab not in self.plans:
            raise UsageError(f"lab {lab!r} is not deployed")
        return self.plans[lab]

    def sample(self, lab: str) -> dict[str, Any]:
        edges = {}
        for e in view.graph(self.plan(lab))["edges"]:
            cut = e["id"] in self.down
            end = {"state": "down" if cut else "up", "held_down": cut, "shaping": "",
                   "rx_packets": 0.0, "tx_packets": 0.0, "rx_bytes": 0.0, "tx_bytes": 0.0}
            edges[e["id"]] = {"ends": [end, dict(end)], "state": "cut" if cut else "up"}
        return {"lab": lab, "t": time.time(), "edges": edges, "drift": [], "error": "",
                "status_age_s": 0.0}

    def link(self, lab: str, a: str, b: str, action: str,
             values: dict[str, str | None]) -> str:
        from netlab.plan import wires

        w = wires.find(self.plan(lab), a, b)
        self.actions.append(("link", lab, a, b, action, values))
        if action == "down":
            self.down.add(view.edge_id(w.index))
        elif action == "up":
            self.down.discard(view.edge_id(w.index))
        return f"{w.label}: {action}"

    def exec(self, lab: str, node: str, command: str) -> dict[str, Any]:
        self.plan(lab).node(node)
        self.actions.append(("exec", lab, node, command))
        return {"node": node, "command": command, "returncode": 0, "stdout": "",
                "stderr": "", "elapsed_s": 0.0}

    def capture(self, lab: str, where: str, seconds: float, count: int | None,
                bpf: str | None) -> tuple[bytes, int]:
        self.actions.append(("capture", lab, where, seconds, count, bpf))
        return b"", 0
