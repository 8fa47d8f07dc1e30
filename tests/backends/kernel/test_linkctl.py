"""Runtime link control (netlab.backends.kernel.linkctl) goes through netlab.linux.netlink,
the layer deploy uses: link state read and set with single requests (no dump, no
pyroute2), witnessed by the kernel's own `ip`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.names import unique_name

pytestmark = pytest.mark.root


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace made by hand (`ip netns add`, a unique name) with a veth pair in it."""
    name = unique_name("tlc")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "a0", "type", "veth", "peer", "b0"],
                       check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ip_up(netns: str, ifname: str) -> bool:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout
    return "UP" in json.loads(out)[0]["flags"]


def test_link_state_and_lookups_use_netlab_netlink_without_pyroute2(netns: str) -> None:
    # A fresh interpreter: does runtime link control load pyroute2 (it used to, through
    # shaping's IPRoute)?
    code = f"""
import sys
from netlab.backends.kernel import linkctl
from netlab.linux import netlink
ns = {netns!r}
with linkctl._socket_in(ns) as sock:
    assert netlink.link_index(sock, "nope0") is None
    a0 = netlink.get_link(sock, name="a0")
    assert a0 is not None and a0.index == netlink.link_index(sock, "a0") and not a0.up
    for up in (True, False, True):
        b = netlink.Batch(sock, ns)
        netlink.set_link_state(b, a0.index, "a0", up)
        b.flush()
        assert linkctl.is_up(ns, "a0") is up
print("pyroute2" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "runtime link control imported pyroute2"
    assert _ip_up(netns, "a0")  # the kernel's own witness


def test_is_up_names_a_missing_interface(netns: str) -> None:
    from netlab.backends.kernel import linkctl
    from netlab.errors import NetlabError

    assert linkctl.is_up(netns, "a0") is False
    with pytest.raises(NetlabError, match=f"no interface 'zz9' in namespace '{netns}'"):
        linkctl.is_up(netns, "zz9")
