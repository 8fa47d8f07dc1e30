"""Linux primitives that know nothing of plans: namespaces (and which are netlab's:
ownership), mounts, sysctl, netlink, nft."""
