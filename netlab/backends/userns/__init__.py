"""Rootless labs: every verb for a user without root, inside a user namespace of theirs.

How it fits together (docs/rootless.md):

- `join.enter_from_cli` runs first in `netlab.cli.main`. For a user who is not root (or
  root with `--rootless`) and a verb that acts on labs, it finds the user's holder (or
  starts one: `holder.start`), joins its user, mount, network and PID namespaces, and
  forks: the child runs the verb as uid 0 of that user namespace, the parent waits and
  passes on the exit status (and, when no lab is left, ends the holder).
- The holder is PID 1 of a PID namespace, in a user namespace where the user's own id is
  0 and nothing else is mapped; its mount namespace has a private /run (so /run/netns is
  the user's own) and a private /etc/netns. Killing it ends every process of the user's
  labs, and with them their namespaces: the kernel does it.
- Inside, the ordinary kernel backend runs unchanged (`backend.UsernsBackend` adds only
  what cannot work without the host: refusals before anything is built).
- State: `state.py` (the user's state directory, the holder's record, the lock).
"""
