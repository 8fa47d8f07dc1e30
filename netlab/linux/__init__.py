"""Linux primitives that know nothing of plans: namespaces, mounts, sysctl, netlink, nft."""
