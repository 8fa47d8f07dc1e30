"""Host untouched: deploy + destroy of every bundled lab, with and without an uplink,
leaves the host's root namespace exactly as it was (tests/support/hostsnap.py)."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

from tests.support import hostsnap, topogen
from tests.support.names import renamed_doc, run_prefix

pytestmark = [pytest.mark.root, pytest.mark.host_exclusive]

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

BUNDLED = sorted(topogen.TOPOLOGIES.rglob("*.toml"))


def _uplink_node(doc: dict) -> str:  # type: ignore[type-arg]
    nodes = doc.get("nodes", {})
    if "gw" in nodes:
        return "gw"
    routers = [n for n, v in nodes.items() if v.get("kind") == "router"]
    return (routers or list(nodes))[0]


def _variant(text: str, name: str, uplink: bool) -> str:
    doc = renamed_doc(tomllib.loads(text), name)
    doc.pop("uplink", None)
    if uplink:
        doc["uplink"] = {"node": _uplink_node(doc)}
    return topogen.toml_dumps(doc)


@pytest.mark.parametrize("uplink", [False, True], ids=["no-uplink", "uplink"])
def test_host_untouched_by_every_bundled_lab(labs, uplink: bool) -> None:  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    assert BUNDLED, "no bundled topologies"
    # The first deploy on a fresh boot makes /run/netns (and the state directory) shared
    # mount points, as `ip netns add` does; that one-time set-up is shared with iproute2 and
    # stays. Prime it with a lab of our own, then demand identity for every bundled lab.
    prime = labs.write(f"{P}hp", _variant(BUNDLED[0].read_text(), f"{P}hp", False))
    Lab.deploy(prime).destroy()
    failures = []
    for k, path in enumerate(BUNDLED):
        name = f"{P}h{'u' if uplink else 'n'}{k}"
        file = labs.write(name, _variant(path.read_text(), name, uplink))
        # Other labs deployed meanwhile (e.g. by a developer) show up as differences too:
        # a real leak reproduces on every try, so a lab fails only if all tries differ.
        for attempt in range(3):
            problem = _cycle(Lab, file)
            if not problem:
                break
            time.sleep(attempt)
        else:
            failures.append(f"{path.name} ({name}):\n{problem}")
    assert not failures, "\n\n".join(failures)


def _cycle(lab_class, file: Path) -> str:  # type: ignore[no-untyped-def]
    """Deploy and destroy once; what the host kept (or '' if nothing). Changes naming
    another lab (one a developer deploys meanwhile) are not ours and are left out."""
    before = hostsnap.snapshot()
    lab = lab_class.deploy(file)
    during = hostsnap.snapshot()
    lab.destroy()
    after = hostsnap.snapshot()
    if during == before:
        return "deploy changed nothing visible (is the snapshot blind?)"
    others = hostsnap.other_labs([before, during, after], lab.name)
    parts = [rf"\b{re.escape(o)}\b" for o in sorted(others)]
    if others:  # shared by every lab (host settings of uplinks; unnamed namespaces)
        parts.append(r"ip_forward|\.forwarding\b|accept_redirects|gc_thresh|settings\.json"
                     r"|^process_netns|^mounts")
    ignore = "|".join(parts) or None
    return hostsnap.diff(before, after, ignore=ignore)


def test_hostsnap_sees_what_it_should(tmp_path: Path) -> None:
    """The snapshot is not blind: a stray link, address, route, nft table, sysctl, netns,
    /etc/netns file, mount and process in an unpinned namespace each show up (the
    guarantee above is only as good as this)."""
    import subprocess

    base = hostsnap.snapshot()
    steps = [
        (["ip", "link", "add", f"{P}snap0", "type", "veth", "peer", "name", f"{P}snap1"],
         ["ip", "link", "del", f"{P}snap0"]),
        (["ip", "addr", "add", "169.254.55.1/32", "dev", f"{P}snap0"], None),
        (["ip", "link", "set", f"{P}snap0", "up"], None),
        (["ip", "route", "add", "169.254.56.0/30", "dev", f"{P}snap0", "table", "55"], None),
        (["nft", "add", "table", "ip", f"{P}snap"], ["nft", "delete", "table", "ip", f"{P}snap"]),
        (["ip", "netns", "add", f"{P}snap-ns"], ["ip", "netns", "del", f"{P}snap-ns"]),
        (["mkdir", "-p", f"/etc/netns/{P}snap-ns"], ["rm", "-rf", f"/etc/netns/{P}snap-ns"]),
        (["mount", "-t", "tmpfs", f"{P}snap", str(tmp_path)], ["umount", str(tmp_path)]),
    ]
    undo = []
    try:
        seen = []
        for do, un in steps:
            subprocess.run(do, check=True, capture_output=True)
            if un:
                undo.append(un)
            now = hostsnap.snapshot()
            seen.append(now != base)
            base = now
        assert all(seen), seen
    finally:
        for un in reversed(undo):
            subprocess.run(un, capture_output=True)
    # A process left in a namespace that nothing pins any more (a leaked exec'd process).
    s0 = hostsnap.snapshot()
    p = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        time.sleep(0.2)
        assert hostsnap.snapshot() != s0
    finally:
        p.kill()
        p.wait()
    # rp_filter of the deleted veth is gone with it; a root sysctl change must show too.
    key = "/proc/sys/net/ipv4/conf/all/log_martians"
    old = Path(key).read_text()
    try:
        s0 = hostsnap.snapshot()
        Path(key).write_text("0" if old.strip() == "1" else "1")
        assert hostsnap.snapshot() != s0
    finally:
        Path(key).write_text(old)
