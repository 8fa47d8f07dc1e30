"""Running a lab's [[expect]] list: each expectation becomes a probe (icmp/tcp/udp), plus
observers for `via` and `source_nat` (sniffers in other nodes' namespaces) and a resolver
query for `dns`. Expectations run concurrently; each reports what it saw."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from netlab.plan.model import ExpectPlan, Plan
from netlab.probes import dns, targets
from netlab.probes.icmp import ping
from netlab.probes.results import CheckReport, CheckResult
from netlab.probes.sniff import Mark, Sniffer
from netlab.probes.tcpudp import probe

_lock = threading.Lock()
_keys = itertools.count(random.randrange(33000, 50000))


def _next_key() -> int:
    """Distinct source ports / echo ids for concurrent expectations of one run."""
    with _lock:
        return 33000 + (next(_keys) - 33000) % 28000


def title(e: ExpectPlan) -> str:
    what = e.proto if e.proto == "icmp" else f"{e.proto}/{e.port}"
    parts = [f"[{e.index}] {e.from_node}"]
    if e.to is not None:
        addr = f" ({e.target_address})" if e.target_address and e.target_address != e.to else ""
        parts.append(f" -> {e.to}{addr} {what}")
    if e.dns_name:
        parts.append(f" dns {e.dns_name}" + (f"={e.dns_answer}" if e.dns_answer else ""))
    parts.append(": " + ("reach" if e.reach else "no reach"))
    if e.via:
        parts.append(f", via {e.via}")
    if e.source_nat:
        parts.append(f", source-nat {e.source_nat}")
    return "".join(parts)


def check(plan: Plan, expectations: list[ExpectPlan] | None = None,
          workers: int = 8) -> CheckReport:
    """Run `expectations` (default: the plan's) against the deployed lab."""
    items = plan.expect if expectations is None else expectations
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        results = list(pool.map(lambda e: check_one(plan, e), items))
    return CheckReport(plan.lab, results, round(time.monotonic() - start, 3))


def check_one(plan: Plan, e: ExpectPlan) -> CheckResult:
    start = time.monotonic()
    passed, seen, details = True, [], []
    try:
        if e.to is not None and e.target_address is not None:
            ok, text, more = _probe_part(plan, e)
            passed &= ok
            seen.append(text)
            details += more
        if e.dns_name:
            ok, text = _dns_part(plan, e)
            passed &= ok
            seen.append(text)
    except Exception as ex:  # a broken lab (missing namespace...) fails this item only
        passed = False
        seen.append(f"error: {ex}")
    return CheckResult(e.index, title(e), passed, "; ".join(seen), details,
                       round(time.monotonic() - start, 3))


def _probe_part(plan: Plan, e: ExpectPlan) -> tuple[bool, str, list[str]]:
    assert e.target_address is not None
    key = _next_key()
    mark = Mark(e.proto, key, e.port)
    details: list[str] = []
    with contextlib.ExitStack() as stack:
        via_sniffer = nat_sniffer = None
        if e.via:
            via_sniffer = stack.enter_context(Sniffer(plan.node(e.via).netns))
        target_node = targets.owner(plan, e.target_address)
        if e.source_nat and target_node:
            nat_sniffer = stack.enter_context(Sniffer(plan.node(target_node).netns))
        if e.proto == "icmp":
            result = ping(plan, e.from_node, e.target_address, count=1, timeout=e.timeout,
                          ident=key)
        else:
            assert e.port is not None
            result = probe(plan, e.from_node, e.target_address, e.proto, e.port,
                           timeout=e.timeout, sport=key)
        reached = result.ok
        ok = reached == e.reach
        text = result.seen()
        if not ok and not e.reach:
            text = "reached: " + text
        if via_sniffer is not None:
            seen_at = via_sniffer.sightings(mark)
            if seen_at:
                details.append(f"path crossed {e.via} (seen on "
                               + ", ".join(sorted({s.ifname for s in seen_at})) + ")")
            else:
                ok = False
                details.append(f"path did not cross {e.via}: the probe never appeared there")
        if e.source_nat:
            if nat_sniffer is None:
                ok = False
                details.append(f"cannot observe source NAT: {e.target_address} is not a lab node")
            else:
                arrived = {s.src for s in nat_sniffer.sightings(mark) if not s.outgoing}
                if e.source_nat in arrived:
                    details.append(f"arrived at {target_node} from {e.source_nat}")
                elif arrived:
                    ok = False
                    details.append(f"arrived at {target_node} from {', '.join(sorted(arrived))},"
                                   f" not {e.source_nat}")
                else:
                    ok = False
                    details.append(f"never arrived at {target_node}, so no source to compare")
    if details:
        text += " [" + "; ".join(details) + "]"
    return ok, text, details


def _dns_part(plan: Plan, e: ExpectPlan) -> tuple[bool, str]:
    assert e.dns_name is not None
    node = plan.node(e.from_node)
    r = dns.resolve(node.name, node.netns, e.dns_name, e.timeout)
    matched = r.ok and (e.dns_answer is None or e.dns_answer in r.addresses)
    text = r.seen()
    if r.ok and e.dns_answer is not None and e.dns_answer not in r.addresses:
        text += f" (not {e.dns_answer})"
    return matched == e.reach, text
