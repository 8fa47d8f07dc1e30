"""Deploy failures roll back, names are never adopted, labs live side by side."""

from __future__ import annotations

import os
import subprocess

import pytest

from netlab.backends.kernel import apply
from netlab.errors import NetlabError
from netlab.plan.model import Plan
from tests.support import REPO
from tests.support.compile import plan_from
from tests.support.host import plan_leftovers
from tests.support.netns import kernel_ping

pytestmark = pytest.mark.root
NATGW = REPO / "topologies" / "natgw.toml"


def _processes_of(plan: Plan) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"/run/netlab/{plan.lab}/" in line]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()],
                         ids=["error", "ctrl-c"])
def test_failure_after_everything_started_rolls_back(exc, labs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(NATGW, "t3fail")
    seen: dict[str, object] = {}

    def fail(ctx: apply.Context) -> None:
        seen["netns"] = [n for n in plan.namespaces if os.path.exists(f"/run/netns/{n}")]
        seen["procs"] = ctx.record.of("proc")
        raise exc

    monkeypatch.setattr(apply, "PHASES", [*apply.PHASES, ("fail", fail)])
    with pytest.raises(type(exc)):
        labs.deploy(plan)
    assert len(seen["netns"]) == len(plan.namespaces)  # it really was built half-way
    assert seen["procs"]
    assert plan_leftovers(plan) == []
    for e in seen["procs"]:
        assert not os.path.exists(f"/proc/{e['pid']}"), "exec'd process survived rollback"


def test_kernel_refusal_half_way_rolls_back(labs) -> None:  # type: ignore[no-untyped-def]
    # The third node's sysctl does not exist: two namespaces are built before it fails.
    def edit(raw):  # type: ignore[no-untyped-def]
        raw["nodes"]["gw"]["sysctl"] = {"net.ipv4.no_such_knob": 1}
    plan = plan_from(NATGW, "t3half", edit)
    with pytest.raises(NetlabError, match="no_such_knob"):
        labs.deploy(plan)
    assert plan_leftovers(plan) == []


def test_foreign_namespace_is_refused_never_adopted(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(NATGW, "t3foreign")
    foreign = plan.nodes[2].netns
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        ino = os.stat(f"/run/netns/{foreign}").st_ino
        with pytest.raises(NetlabError, match=f"{foreign}.*not created by netlab"):
            labs.deploy(plan)
        assert os.stat(f"/run/netns/{foreign}").st_ino == ino  # untouched
        assert [x for x in plan_leftovers(plan) if foreign not in x] == []  # nothing else built
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=True)


def test_redeploy_is_refused_unless_forced(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(NATGW, "t3again")
    labs.deploy(plan)
    first = os.stat(f"/run/netns/{plan.nodes[0].netns}").st_ino
    with pytest.raises(NetlabError, match="already deployed"):
        labs.deploy(plan)
    assert os.stat(f"/run/netns/{plan.nodes[0].netns}").st_ino == first
    labs.deploy(plan, force=True)
    assert os.stat(f"/run/netns/{plan.nodes[0].netns}").st_ino != first
    assert kernel_ping(plan.node("pc1").netns, "203.0.113.2", timeout=2)


def test_two_labs_side_by_side(labs) -> None:  # type: ignore[no-untyped-def]
    from netlab.backends.kernel.destroy import destroy_lab

    a, b = plan_from(NATGW, "t3side1"), plan_from(NATGW, "t3side2")
    labs.deploy(a)
    labs.deploy(b)
    # Same addresses in both labs: each namespace only sees its own lab.
    assert kernel_ping(a.node("pc1").netns, "203.0.113.2", timeout=2)
    assert kernel_ping(b.node("pc1").netns, "203.0.113.2", timeout=2)
    destroy_lab(a.lab)
    assert plan_leftovers(a) == []
    assert kernel_ping(b.node("pc2").netns, "203.0.113.2", timeout=2)
    assert kernel_ping(b.node("web").netns, "203.0.113.1", timeout=2)


def test_missing_nft_is_refused_before_building(labs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from netlab.linux import nft

    plan = plan_from(NATGW, "t3nonft")
    monkeypatch.setattr(nft, "available", lambda: False)
    with pytest.raises(NetlabError, match="gw.*nft"):
        labs.deploy(plan)
    assert plan_leftovers(plan) == []


def test_etc_netns_leftover_link_is_reused_foreign_one_refused(labs) -> None:  # type: ignore[no-untyped-def]
    from netlab.state.store import lab_dir

    plan = plan_from(NATGW, "t3stale")
    pc1 = plan.node("pc1").netns
    link = f"/etc/netns/{pc1}"
    os.makedirs("/etc/netns", exist_ok=True)
    # What a lost /run/netlab (a reboot) leaves: a dangling link into the lab's own store.
    os.symlink(str(lab_dir(plan.lab) / "etc" / pc1), link)
    try:
        lab = labs.deploy(plan)
        assert os.path.isfile(f"{link}/resolv.conf")
        lab.destroy()
        assert not os.path.lexists(link)
        os.symlink("/tmp", link)  # someone else's
        with pytest.raises(NetlabError, match=link):
            labs.deploy(plan)
        assert os.readlink(link) == "/tmp"
    finally:
        if os.path.islink(link):
            os.unlink(link)
