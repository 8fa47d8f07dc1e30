"""The hand-packed rtnetlink requests decode, with pyroute2's parser, to what was meant."""

from __future__ import annotations

import socket

from netlab.linux import netlink as nl


class _Sink:
    """A socket stand-in: Batch only needs it for flush, which these tests do not call."""


def _decode(batch: nl.Batch):  # type: ignore[no-untyped-def]
    from pyroute2.netlink.rtnl.marshal import MarshalRtnl

    return list(MarshalRtnl().parse(b"".join(batch.parts)))


def test_veth_request_decodes_with_pyroute2() -> None:
    b = nl.Batch(_Sink(), "t3")  # type: ignore[arg-type]
    nl.new_veth(b, name="lan-pc1", index=7, fd=11, mtu=1400, master=2, peer="eth0",
                peer_index=3, peer_fd=12, peer_mtu=1500)
    (msg,) = _decode(b)
    assert msg["header"]["type"] == nl.RTM_NEWLINK
    assert msg["header"]["flags"] & (nl.NLM_F_CREATE | nl.NLM_F_EXCL | nl.NLM_F_REQUEST) == \
        nl.NLM_F_CREATE | nl.NLM_F_EXCL | nl.NLM_F_REQUEST
    assert msg["index"] == 7 and msg["flags"] & nl.IFF_UP
    assert msg.get_attr("IFLA_IFNAME") == "lan-pc1"
    assert msg.get_attr("IFLA_MTU") == 1400
    assert msg.get_attr("IFLA_MASTER") == 2
    assert msg.get_attr("IFLA_NET_NS_FD") == 11
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer["index"] == 3
    assert peer["flags"] == 0  # a veth peer cannot be set up in the same request
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_NET_NS_FD") == 12
    assert peer.get_attr("IFLA_MTU") == 1500


def test_address_and_route_requests_decode() -> None:
    b = nl.Batch(_Sink(), "t3")  # type: ignore[arg-type]
    nl.add_address(b, 2, "eth0", "10.0.0.2/24")
    nl.add_address(b, 2, "eth0", "fd00:10::2/64")
    nl.add_route(b, "default", "10.0.0.1", 2, "eth0")
    nl.add_route(b, "10.9.0.0/16", None, 3, "eth1")
    a4, a6, r1, r2 = _decode(b)
    assert (a4["family"], a4["prefixlen"], a4["index"]) == (socket.AF_INET, 24, 2)
    assert a4.get_attr("IFA_LOCAL") == "10.0.0.2"
    assert a6["family"] == socket.AF_INET6 and a6["flags"] & nl.IFA_F_NODAD
    assert a6.get_attr("IFA_ADDRESS") == "fd00:10::2"
    assert r1["dst_len"] == 0 and r1.get_attr("RTA_GATEWAY") == "10.0.0.1"
    assert r1.get_attr("RTA_OIF") == 2 and r1.get_attr("RTA_DST") is None
    assert r2["dst_len"] == 16 and r2.get_attr("RTA_DST") == "10.9.0.0"
    assert r2["scope"] == nl.RT_SCOPE_LINK
    # Sequence numbers name each request in error messages.
    assert [m["header"]["sequence_number"] for m in (a4, a6, r1, r2)] == [1, 2, 3, 4]
    assert b.what[3] == "add route default via 10.0.0.1 dev eth0"


def test_attributes_are_padded_to_four_bytes() -> None:
    for n in range(0, 9):
        assert len(nl.attr(1, b"x" * n)) % 4 == 0
