"""Where deployed labs are recorded: /run/netlab/<lab>/.

Later verbs (status, exec, probes, destroy) read the saved plan from here, never the
topology file, so they work when the file has changed or is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import NetlabError, UsageError

if TYPE_CHECKING:  # imported when needed: `netlab destroy` and `list` need no pydantic
    from netlab.plan import Plan

DEFAULT_RUN_DIR = "/run/netlab"
RUN_DIR = Path(os.environ.get("NETLAB_RUN_DIR", DEFAULT_RUN_DIR))
PLAN_FILE = "plan.json"
RECORD_FILE = "created.jsonl"
LOG_DIR = "logs"
UTS_DIR = "uts"


class LabNotFound(NetlabError):
    exit_code = 2


def lab_dir(name: str) -> Path:
    return RUN_DIR / name


def list_labs() -> list[str]:
    """Names of labs with a state directory, sorted."""
    try:
        return sorted(p.name for p in RUN_DIR.iterdir() if (p / PLAN_FILE).is_file())
    except FileNotFoundError:
        return []


def read_plan(name: str) -> Plan:
    from netlab.plan import Plan

    path = lab_dir(name) / PLAN_FILE
    try:
        return Plan.from_json(path.read_text())
    except FileNotFoundError:
        raise LabNotFound(_not_deployed(name)) from None


def resolve_lab(name: str | None) -> str:
    """The lab a verb acts on: the one given, or the only one deployed."""
    labs = list_labs()
    if name is not None:
        if name not in labs:
            raise LabNotFound(_not_deployed(name))
        return name
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise UsageError("no lab is deployed (deploy one with `netlab deploy FILE`)")
    raise UsageError("several labs are deployed; pick one with --lab: " + ", ".join(labs))


def _not_deployed(name: str) -> str:
    labs = list_labs()
    listing = ", ".join(labs) if labs else "none"
    return f"lab {name!r} is not deployed (deployed labs: {listing})"


# --- writing (the backend's side) -----------------------------------------------------


def write_plan(name: str, plan: Plan) -> Path:
    """Create the lab's state directory and save its plan, before anything is built."""
    d = lab_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    (d / LOG_DIR).mkdir(exist_ok=True)
    (d / UTS_DIR).mkdir(exist_ok=True)
    tmp = d / (PLAN_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(plan_json_chunks(plan))
    tmp.replace(d / PLAN_FILE)
    return d


def plan_json_chunks(plan: Plan) -> Iterator[str]:
    """plan.to_json() in pieces. Every node carries the whole lab's hosts file, so the
    JSON grows with N^2 (53 MiB at 1000 nodes); as one string it doubled deploy's memory.
    Here each distinct hosts text is encoded once and spliced in where a marker stands."""
    marker = f"@@netlab-hosts-{secrets.token_hex(8)}-"
    ids: dict[int, int] = {}  # id(hosts text) -> number
    texts: list[str] = []
    nodes = []
    for n in plan.nodes:
        k = ids.get(id(n.hosts))
        if k is None:
            k = ids[id(n.hosts)] = len(texts)
            texts.append(n.hosts)
        nodes.append(n.model_copy(update={"hosts": f"{marker}{k}@@"}))
    skeleton = plan.model_copy(update={"nodes": nodes}).to_json()
    encoded = [json.dumps(t, ensure_ascii=False)[1:-1] for t in texts]
    pos = 0
    for m in re.finditer(re.escape(marker) + r"(\d+)@@", skeleton):
        yield skeleton[pos:m.start()]
        yield encoded[int(m.group(1))]
        pos = m.end()
    yield skeleton[pos:]


def remove_lab_dir(name: str) -> None:
    shutil.rmtree(lab_dir(name), ignore_errors=True)


class Record:
    """Journal of what deploy actually created: one JSON object per line, appended as
    each object comes into existence, so that an interrupted deploy can still be undone.

    Entries have a "kind": placeholder (a /run/netns file netlab made), foreign (a
    placeholder name taken by someone else: never removed), netns / uts (path, dev, ino),
    etc (a /etc/netns entry), hostlink
    (root-ns interface), hostnft (root-ns nft table), hostsysctl (key, old), proc (node,
    pid, start). Other modules may append kinds of their own; destroy ignores unknown ones.
    """

    def __init__(self, name: str):
        self.path = lab_dir(name) / RECORD_FILE
        self.entries: list[dict[str, Any]] = []
        self._fd: int | None = None

    def open(self) -> Record:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                           0o644)
        return self

    def add(self, **entry: Any) -> None:
        self.add_many([entry])

    def add_many(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.entries.extend(entries)
        if self._fd is not None:
            os.write(self._fd, "".join(json.dumps(e) + "\n" for e in entries).encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("kind") == kind]


def read_record(name: str) -> Record:
    """The journal of a lab (empty if it has none); tolerates a torn last line."""
    rec = Record(name)
    try:
        text = rec.path.read_text()
    except FileNotFoundError:
        return rec
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            rec.entries.append(json.loads(line))
    return rec


@contextlib.contextmanager
def lab_lock(name: str) -> Iterator[None]:
    """Exclusive per-lab lock held by deploy and destroy (a lock file beside the lab dir)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    path = RUN_DIR / f".{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NetlabError(f"lab {name!r} is being deployed or destroyed by another netlab"
                              " process; try again when it has finished") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed this file: lock the new one
    try:
        yield
    finally:
        # No lab left: remove the lock file too (safe: lockers check the inode above).
        if not lab_dir(name).exists():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)


def deployed_labs() -> list[str]:
    """Labs with state (a plan or a record): list_labs plus half-built ones."""
    try:
        return sorted(p.name for p in RUN_DIR.iterdir() if p.is_dir() and (
            (p / PLAN_FILE).is_file() or (p / RECORD_FILE).is_file()))
    except FileNotFoundError:
        return []
