"""The typed journal (netlab.state.journal): entries are typed by kind, checked against
the one schema (the entry classes) when read back, and shaped by it when written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlab.state import journal
from netlab.state.journal import (
    JOURNAL_SCHEMA,
    HostHoldEntry,
    HostNftEntry,
    NetnsEntry,
    ProcEntry,
    Record,
    read_record,
)
from netlab.state.layout import RUN_DIR_ENV

LAB = "tjournal"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv(RUN_DIR_ENV, str(run))
    (run / LAB).mkdir(mode=0o700)
    return run / LAB


def test_schema_covers_every_kind_netlab_writes() -> None:
    assert set(JOURNAL_SCHEMA) == {"placeholder", "foreign", "netns", "uts", "etc", "hostlink",
                                   "hostnft", "hosthold", "hostsysctl", "proc", "mntns", "init"}
    for kind, cls in journal.ENTRY_TYPES.items():  # the classes are the schema
        assert set(cls.__annotations__) - {"kind"} == set(JOURNAL_SCHEMA[kind])


def test_typed_entries_read_back_typed(lab: Path) -> None:
    rec = Record(LAB).open()
    rec.add(NetnsEntry(kind="netns", path=f"/run/netns/{LAB}-a", dev=1, ino=2, cookie=77,
                       token="ab" * 16))
    rec.add(ProcEntry(kind="proc", node="a", index=0, command="sleep 1", pid=5, start=None,
                      log=f"{lab}/logs/a.log"))
    rec.add(kind="hostlink", ifname=f"nl-{LAB}"[:15])  # keywords: optional ifindex left out
    rec.add(kind="mntns", node="a", path=f"{lab}/mnt/a", dev=3, ino=4)
    rec.add(kind="init", node="a", pid=9, start=12)
    rec.add_many([HostNftEntry(kind="hostnft", family="ip", table=f"netlab-{LAB}"),
                  HostHoldEntry(kind="hosthold", need="forwarding", token="cd" * 16)])
    rec.close()
    back = read_record(LAB)
    assert back.damaged == []
    assert [e["kind"] for e in back.entries] == ["netns", "proc", "hostlink", "mntns",
                                                 "init", "hostnft", "hosthold"]
    assert back.of("mntns")[0]["path"] == f"{lab}/mnt/a"
    assert back.of("init")[0]["start"] == 12
    (ns,) = back.of("netns")
    assert (ns["cookie"], ns["token"]) == (77, "ab" * 16)
    assert back.of("hostlink")[0]["ifindex"] is None  # optional: null when not written
    assert back.of("proc")[0]["start"] is None
    assert back.of("hosthold")[0]["need"] == "forwarding"
    assert rec.entries == back.entries  # what deploy's rollback sees is what destroy reads


@pytest.mark.parametrize("entry", [
    {"kind": "netns", "path": f"/run/netns/{LAB}-a", "dev": 1, "ino": 2, "cokie": 5},  # typo
    {"kind": "hostnft", "family": "ip"},  # no table
    {"kind": "proc", "node": "a", "index": 0, "command": "x", "pid": 1, "log": "x",
     "env": {"A": "1"}},  # a field the schema does not have: it would vanish on reading
])
def test_entries_not_shaped_like_their_kind_are_refused_when_written(
        lab: Path, entry: dict[str, object]) -> None:
    rec = Record(LAB).open()
    try:
        with pytest.raises(ValueError, match="journal entry"):
            rec.add(**entry)
    finally:
        rec.close()
    assert (lab / "created.jsonl").read_text() == ""
    assert rec.entries == []


def test_host_holds_are_checked_when_read_back(lab: Path) -> None:
    good = {"kind": "hosthold", "need": "neigh", "token": "0f" * 16}
    lines = [good, {**good, "need": "everything"}, {**good, "token": "../x"},
             {"kind": "hosthold", "need": "neigh"}]
    (lab / "created.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rec = read_record(LAB)
    assert rec.of("hosthold") == [good]
    assert [d.line for d in rec.damaged] == [2, 3, 4]


def test_kinds_this_netlab_does_not_know_stay_inert(lab: Path) -> None:
    (lab / "created.jsonl").write_text(json.dumps({"kind": "future", "x": [1]}) + "\n")
    rec = read_record(LAB)
    assert rec.entries == [{"kind": "future", "x": [1]}] and rec.damaged == []
    assert rec.of("netns") == []
