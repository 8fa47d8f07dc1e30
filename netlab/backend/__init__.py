"""The kernel backend: applies a Plan with netlink, records it, and undoes it.

Modules: namespaces (netns/UTS create, pin, delete), netlink (batched rtnetlink), apply
(deploy phases and rollback), destroy, files (/etc/netns), nft, procs (exec), uplink.
"""
