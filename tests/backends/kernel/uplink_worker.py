"""One process of the uplink hammer (test_rel_uplink.py): deploys and destroys one lab
with an uplink, ROUNDS times, pausing a random moment between steps, through the Python
API in this process (NETLAB_RUN_DIR comes from the environment, as for any netlab run).

    python uplink_worker.py FILE ROUNDS SEED

Half of the rounds also take the neighbour-table hold pingall takes. While its lab is
deployed, the host must keep forwarding on (and the raised neighbour limits, once held),
whatever the other workers do: each violation seen is printed. The last line on stdout
is a JSON summary.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
THRESH3 = Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3")


def main() -> int:
    path, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    from netlab.lab import Lab
    from netlab.probes.limits import _TARGET, ensure_neighbour_capacity

    rng = random.Random(seed)
    bad: list[str] = []
    times: list[float] = []
    for k in range(rounds):
        time.sleep(rng.random() * 0.05)
        start = time.monotonic()
        print(f"round {k}: deploy", file=sys.stderr, flush=True)  # where a killed one was
        lab = Lab.deploy(path)
        print(f"round {k}: up", file=sys.stderr, flush=True)
        try:
            if FORWARD.read_text().strip() != "1":
                bad.append(f"round {k}: ip_forward is not 1 after deploy")
            neigh = rng.random() < 0.5
            if neigh:
                ensure_neighbour_capacity(10**6, lab.name)
            time.sleep(rng.random() * 0.05)
            if FORWARD.read_text().strip() != "1":
                bad.append(f"round {k}: ip_forward was reset while the lab was up")
            if neigh and int(THRESH3.read_text()) < _TARGET["gc_thresh3"]:
                bad.append(f"round {k}: neighbour limits restored while the lab held them")
        finally:
            print(f"round {k}: destroy", file=sys.stderr, flush=True)
            lab.destroy()
        times.append(time.monotonic() - start)
    for line in bad:
        print(line)
    print(json.dumps({"rounds": rounds, "bad": bad, "max_cycle": max(times),
                      "total": sum(times)}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
