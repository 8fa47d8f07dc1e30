"""The uplink without a kernel: subnet limits, address arithmetic (never an enumeration,
in the uplink and in the pools), the host table's text, the overlap check against the
host's routes and addresses, and the host-settings record (hostsettings.py) on a fake
/proc/sys/net and a temporary record directory."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from netlab.backends.kernel import hostsettings, uplink
from netlab.backends.kernel.hostsettings import FORWARDING, NEIGH
from netlab.compile import pools
from tests.support import REPO
from tests.support.compile import plan, problems

TWO = """
[lab]
name = "t2up"
[nodes.gw]
kind = "router"
[nodes.pc1]
[[links]]
endpoints = ["gw", "pc1"]
"""


# --- validate -------------------------------------------------------------------------


def test_huge_uplink_subnet_is_refused_fast_in_bounded_memory() -> None:
    """128.0.0.0/2 once made `netlab validate` (no root needed) list a billion addresses
    until the machine ran out of memory; now a refusal, in a 1 GiB address space."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "netlab", "validate",
                        "tests/invalid/uplink-huge.toml"], cwd=REPO, capture_output=True,
                       text=True, timeout=60, preexec_fn=limit)
    took = time.monotonic() - start
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    assert "uplink.subnet: 128.0.0.0/2 is too large" in r.stderr
    assert took < 20, took


@pytest.mark.parametrize("subnet", ["10.9.9.0/30", "172.31.0.16/28", "192.168.200.8/29",
                                    "100.127.255.252/30"])
def test_private_small_subnets_are_accepted(subnet: str) -> None:
    p = plan(TWO + f'[uplink]\nnode = "gw"\nsubnet = "{subnet}"\n')
    net = ipaddress.ip_network(subnet)
    assert p.uplink is not None
    assert p.uplink.host_address == f"{net.network_address + 1}/{net.prefixlen}"
    assert p.uplink.node_address == f"{net.network_address + 2}/{net.prefixlen}"
    assert p.uplink.isolated


@pytest.mark.parametrize("subnet, why", [
    ("151.101.0.0/30", "not private address space"),
    ("100.128.0.0/30", "not private address space"),   # just past 100.64.0.0/10
    ("172.32.0.0/30", "not private address space"),    # just past 172.16.0.0/12
    ("192.168.0.0/27", "too large"),
    ("10.0.0.0/8", "too large"),
    ("0.0.0.0/0", "too large"),
    ("192.168.0.0/32", "too small"),
])
def test_unsafe_subnets_are_refused_with_key_and_fix(subnet: str, why: str) -> None:
    found = [p for p in problems(TWO + f'[uplink]\nnode = "gw"\nsubnet = "{subnet}"\n')
             if p.path == "uplink.subnet"]
    assert len(found) == 1 and why in found[0].message, found
    assert "leave uplink.subnet out" in found[0].fix


def test_isolated_key_reaches_the_plan() -> None:
    p = plan(TWO + '[uplink]\nnode = "gw"\nisolated = false\n')
    assert p.uplink is not None and p.uplink.isolated is False


# --- pools: skip taken blocks by arithmetic ---------------------------------------------


BIG_POOL = """
[lab]
name = "t2pool"
[defaults]
ipv6 = true
[pools]
p2p = "10.0.0.0/8"
p2p6 = "fd00::/16"
[nodes.gw]
kind = "router"
[nodes.pc1]
[switches.lan2]
subnet = "10.0.0.0/9"
subnet6 = "fd00::/17"
[[links]]
endpoints = ["gw", "pc1"]
[[links]]
endpoints = ["pc1", "lan2"]
"""


def test_pool_half_taken_allocates_at_once() -> None:
    """A /8 pool whose first half is one subnet: 2^21 candidate /30s were visited one by
    one (25 s); in an IPv6 pool (2^47 candidate /64s) it never finished."""
    tracemalloc.start()
    start = time.monotonic()
    p = plan(BIG_POOL)
    took = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert took < 2, took
    assert peak < 64 << 20, peak
    got = {f"{n.name}:{i.name}": i.addresses for n in p.nodes for i in n.interfaces}
    assert got["gw:eth0"] == ["10.128.0.1/30", "fd00:8000::1/64"], got


def _naive(pool: pools.Net, prefix: int, taken: pools.Taken) -> list[str]:
    if prefix < pool.prefixlen:
        return []
    return [str(c) for c in pool.subnets(new_prefix=prefix) if taken.clash(c) is None]


def test_free_blocks_match_plain_enumeration() -> None:
    rng = random.Random(7)
    for _ in range(300):
        pool = ipaddress.ip_network(f"10.{rng.randrange(256)}.0.0/{rng.randint(16, 22)}",
                                    strict=False)
        prefix = rng.randint(pool.prefixlen - 1, 26)
        taken = pools.Taken()
        for _ in range(rng.randint(0, 6)):
            plen = rng.randint(14, 30)
            start = int(pool.network_address) + rng.randrange(-(1 << 12), pool.num_addresses)
            net = ipaddress.ip_network((start & ~((1 << (32 - plen)) - 1), plen))
            taken.add(net, "x")
        assert [str(c) for c in pools.free_blocks(pool, prefix, taken)] == \
            _naive(pool, prefix, taken), (pool, prefix, taken._added)


# --- the host table ---------------------------------------------------------------------


def _up(isolated: bool = True, masquerade: bool = True) -> Any:
    return plan(TWO + f'[uplink]\nnode = "gw"\nsubnet = "100.64.9.0/30"\n'
                f"isolated = {str(isolated).lower()}\nmasquerade = {str(masquerade).lower()}\n"
                ).uplink


def test_host_table_keeps_other_uplinks_out() -> None:
    iso, both = uplink.GROUP_ISOLATED, f"{{ {uplink.GROUP_ISOLATED}, {uplink.GROUP_OPEN} }}"
    text = uplink.host_ruleset("t2up", _up())
    assert f'iifgroup {both} iifname != "nl-t2up" ip daddr 100.64.9.1 drop' in text
    assert f'iifgroup {both} iifname != "nl-t2up" oifname "nl-t2up" drop' in text
    assert f'iifname "nl-t2up" oifgroup {both} oifname != "nl-t2up" drop' in text
    assert 'ip saddr 100.64.9.0/30 oifname != "nl-t2up" masquerade' in text
    # Open: apart from isolated uplinks only; without masquerade, no nat chain.
    open_ = uplink.host_ruleset("t2up", _up(isolated=False, masquerade=False))
    assert f"iifgroup {iso} iifname" in open_ and f"oifgroup {iso} oifname" in open_
    assert str(uplink.GROUP_OPEN) not in open_ and "masquerade" not in open_


class _Msg(dict):  # type: ignore[type-arg]
    """A netlink message as pyroute2 decodes it: fields by key, attributes by get_attr."""

    def __init__(self, attrs: dict[str, Any], **fields: Any):
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs.get(name)


def _addr(ip: str, plen: int, index: int) -> _Msg:
    return _Msg({"IFA_LOCAL": ip, "IFA_ADDRESS": ip}, family=socket.AF_INET, prefixlen=plen,
                index=index)


def _route(dst: str | None, plen: int, oif: int | None, table: int = 254, kind: int = 1
           ) -> _Msg:
    return _Msg({"RTA_DST": dst, "RTA_OIF": oif, "RTA_TABLE": table},
                family=socket.AF_INET, dst_len=plen, type=kind, table=table)


def test_overlap_with_host_routes_and_addresses() -> None:
    links = {1: "lo", 4: "eth0", 9: "tun0", 12: "nl-other"}
    addrs = [_addr("127.0.0.1", 8, 1), _addr("192.0.2.2", 24, 4), _addr("100.64.9.1", 30, 12)]
    routes = [
        _route(None, 0, 4),                               # default: allowed
        _route("192.0.2.0", 24, 4),
        _route("100.64.0.0", 10, 9, table=200),          # e.g. a VPN's table
        _route("100.64.9.0", 30, 12),                    # another lab's uplink
        _route("100.64.9.1", 32, 12, table=255, kind=2),  # local: the address again
    ]
    got = uplink.overlaps(ipaddress.ip_network("100.64.9.0/30"), addrs, routes, links)
    assert got == [
        "uplink subnet 100.64.9.0/30 overlaps the host's address 100.64.9.1/30 on nl-other"
        " (set uplink.subnet to a /30 the host does not use)",
        "uplink subnet 100.64.9.0/30 overlaps the host's route 100.64.0.0/10 dev tun0"
        " (table 200) (set uplink.subnet to a /30 the host does not use)",
    ]
    assert uplink.overlaps(ipaddress.ip_network("10.1.2.0/30"), addrs, routes, links) == []
    main = uplink.overlaps(ipaddress.ip_network("192.0.2.4/30"), [], routes, links)
    assert main == ["uplink subnet 192.0.2.4/30 overlaps the host's route 192.0.2.0/24 dev"
                    " eth0 (table main) (set uplink.subnet to a /30 the host does not use)"]


# --- the host-settings record -------------------------------------------------------------

FAKE = {
    "ipv4/ip_forward": "0", "ipv4/conf/all/forwarding": "0",
    "ipv4/conf/default/forwarding": "0", "ipv4/conf/all/accept_redirects": "1",
    "ipv4/conf/lo/forwarding": "1",
    **{k: v for fam in ("ipv4", "ipv6") for k, v in (
        (f"{fam}/neigh/default/gc_thresh1", "128"), (f"{fam}/neigh/default/gc_thresh2", "512"),
        (f"{fam}/neigh/default/gc_thresh3", "1024"))},
}


class Host:
    """A fake /proc/sys/net, a private record directory and two run directories."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.proc, self.dir = root / "proc", root / "host"
        for k, v in FAKE.items():
            (self.proc / k).parent.mkdir(parents=True, exist_ok=True)
            (self.proc / k).write_text(v + "\n")
        self.runs = [root / "run1", root / "run2"]
        for r in self.runs:
            r.mkdir(mode=0o700)
        self.mp = monkeypatch
        monkeypatch.setattr(hostsettings, "PROC_NET", str(self.proc) + "/")
        monkeypatch.setattr(hostsettings, "HOST_DIR", str(self.dir))
        self.use(0)

    def use(self, k: int) -> None:
        self.mp.setenv("NETLAB_RUN_DIR", str(self.runs[k]))

    def values(self) -> dict[str, str]:
        return {k: (self.proc / k).read_text().strip() for k in FAKE}

    def deploy(self, lab: str) -> None:
        """A lab with an uplink on `lo` (an interface that exists, so it is alive)."""
        from netlab.state import store

        store.lab_dir(lab).mkdir()
        token = hostsettings.new_token()
        rec = store.Record(lab).open()
        rec.add(kind=hostsettings.JOURNAL_KIND, need=FORWARDING, token=token)
        rec.close()
        with hostsettings.session() as s:
            assert s is not None
            hostsettings.hold_forwarding(s, lab, token, "lo", socket.if_nametoindex("lo"))

    def destroy(self, lab: str) -> None:
        import shutil

        from netlab.state import store

        hostsettings.release_lab(lab)
        shutil.rmtree(store.lab_dir(lab))

    def record(self) -> dict[str, Any]:
        return json.loads((self.dir / hostsettings.RECORD_NAME).read_text())


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    return Host(tmp_path, monkeypatch)


def test_last_holder_restores_across_run_directories(host: Host) -> None:
    """The record is the host's, not the run directory's: a lab in another run directory
    keeps forwarding on, and the last one out restores every saved value."""
    before = host.values()
    host.deploy("ta")
    assert host.values()["ipv4/ip_forward"] == "1"
    saved = host.record()["groups"][FORWARDING]["values"]
    assert saved["ipv4/ip_forward"] == "0" and saved["ipv4/conf/lo/forwarding"] == "1"
    assert saved["ipv4/conf/all/accept_redirects"] == "1"
    host.use(1)
    host.deploy("tb")
    (host.proc / "ipv4/conf/lo/forwarding").write_text("0")  # what the kernel does
    host.use(0)
    host.destroy("ta")
    assert host.values()["ipv4/ip_forward"] == "1", "restored under a running lab"
    assert [h["lab"] for h in host.record()["holders"]] == ["tb"]
    host.use(1)
    host.destroy("tb")
    assert host.values() == before
    assert not host.dir.exists(), "an empty record directory is left"
    assert stat_mode(host.runs[0]) == 0o700


def stat_mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_a_lab_gone_by_hand_no_longer_holds(host: Host) -> None:
    import shutil

    before = host.values()
    host.deploy("ta")
    shutil.rmtree(host.runs[0] / "ta")  # state removed by hand, no destroy
    with hostsettings.session():
        pass
    assert host.values() == before


def test_a_holder_whose_interface_is_gone_is_dropped(host: Host) -> None:
    host.deploy("ta")
    rec = host.record()
    rec["holders"][0]["ifindex"] = 2**31 - 1  # no such interface: namespace deleted
    (host.dir / hostsettings.RECORD_NAME).write_text(json.dumps(rec))
    with hostsettings.session():
        pass
    assert host.values()["ipv4/ip_forward"] == "0"


def test_forwarding_already_on_is_left_alone(host: Host) -> None:
    (host.proc / "ipv4/ip_forward").write_text("1")
    host.deploy("ta")
    assert FORWARDING not in host.record()["groups"]  # nothing changed, nothing to restore
    (host.proc / "ipv4/conf/lo/forwarding").write_text("0")  # someone else's change
    host.destroy("ta")
    assert host.values()["ipv4/ip_forward"] == "1"
    assert host.values()["ipv4/conf/lo/forwarding"] == "0"


def test_neighbour_limits_held_by_the_lab_and_restored(host: Host) -> None:
    from netlab.probes.limits import _TARGET, ensure_neighbour_capacity
    from netlab.state import store

    before = host.values()
    store.lab_dir("ta").mkdir()
    store.Record("ta").open().close()
    assert ensure_neighbour_capacity(100, "ta") == []  # fits: nothing held
    assert not host.dir.exists()
    changed = ensure_neighbour_capacity(2450, "ta")
    assert "net.ipv4.neigh.default.gc_thresh3=16384" in changed
    assert host.values()["ipv6/neigh/default/gc_thresh2"] == str(_TARGET["gc_thresh2"])
    # Another lab needs it too (measured against the host's own values, not the raised).
    store.lab_dir("tb").mkdir()
    store.Record("tb").open().close()
    assert ensure_neighbour_capacity(2450, "tb") == []
    assert len(host.record()["holders"]) == 2
    host.destroy("ta")
    assert host.values()["ipv4/neigh/default/gc_thresh3"] == "16384"
    host.destroy("tb")
    assert host.values() == before


def test_no_new_hold_once_destroy_released_the_lab(host: Host) -> None:
    from netlab.probes.limits import ensure_neighbour_capacity
    from netlab.state import store

    store.lab_dir("ta").mkdir()
    store.Record("ta").open().close()
    hostsettings.release_lab("ta")  # destroy is under way
    assert ensure_neighbour_capacity(10**6, "ta") == []
    assert host.values() == {k: v for k, v in FAKE.items()}


def test_record_directory_must_be_private_and_real(host: Host, tmp_path: Path) -> None:
    host.dir.mkdir(mode=0o755)
    os.chmod(host.dir, 0o755)
    with pytest.raises(hostsettings.HostSettingsError, match="mode 0700"):
        host.deploy("ta")
    host.dir.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    host.dir.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(hostsettings.HostSettingsError, match="not a plain directory"):
        hostsettings.release_lab("ta")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_record_is_untrusted_input(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the file says, only known settings with numeric values are ever written,
    and only well-formed holders count."""
    host.dir.mkdir(mode=0o700)
    token = "0" * 32
    evil = {
        "format": 1,
        "groups": {
            FORWARDING: {"values": {
                "ipv4/ip_forward": "0",
                "ipv4/conf/../../../../../tmp/x/forwarding": "1",
                "ipv4/conf/lo/forwarding": "1; rm -rf /",
                "core/somaxconn": "1",
                "ipv4/conf/all/accept_redirects": 7,
            }, "ifindex": {"lo": "1", "../x": 3}},
            "bogus": {"values": {}},
        },
        "holders": [
            {"need": FORWARDING, "run_dir": "run", "lab": "ta", "token": token},
            {"need": FORWARDING, "run_dir": "/x/../etc", "lab": "ta", "token": token},
            {"need": NEIGH, "run_dir": "/run/netlab", "lab": "../x", "token": token},
            {"need": NEIGH, "run_dir": "/run/netlab", "lab": "ta\n", "token": token},
            {"need": "root", "run_dir": "/run/netlab", "lab": "ta", "token": token},
            {"need": NEIGH, "run_dir": "/run/netlab", "lab": "ta", "token": "x" * 32},
            {"need": FORWARDING, "run_dir": "/run/netlab", "lab": "ta", "token": token,
             "ifname": "a/b", "ifindex": 3},
            {"need": FORWARDING, "run_dir": "/run/netlab", "lab": "ta", "token": token,
             "ifname": "lo", "ifindex": True},
            "not an object",
        ],
    }
    (host.dir / hostsettings.RECORD_NAME).write_text(json.dumps(evil))
    (host.proc / "ipv4/ip_forward").write_text("1")
    with hostsettings.session():
        pass
    err = capsys.readouterr().err
    assert err.count("dropped") == 4 + 2 + 1 + 9, err  # values, ifindexes, groups, holders
    assert not (host.proc.parent / "tmp").exists()
    # The one valid value was restored; nothing held, so the record is gone.
    assert host.values()["ipv4/ip_forward"] == "0"
    assert host.values()["ipv4/conf/lo/forwarding"] == "1"
    assert not host.dir.exists()


@pytest.mark.parametrize("text", ["", "[]", "null", '{"format": 2}', "[" * 100000, "\x00"])
def test_damaged_record_starts_afresh(host: Host, text: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    host.dir.mkdir(mode=0o700)
    (host.dir / hostsettings.RECORD_NAME).write_text(text)
    host.deploy("ta")
    assert "starting a new one" in capsys.readouterr().err
    assert host.record()["holders"][0]["lab"] == "ta"
    host.destroy("ta")
    assert host.values()["ipv4/ip_forward"] == "0"
