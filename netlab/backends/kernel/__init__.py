"""The kernel backend: applies a Plan with netlink as root, records it, undoes it."""
