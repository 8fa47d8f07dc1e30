"""The web view's JSON endpoints and access rules (netlab/web/server.py), on plans only
(PlanSource: no kernel, no root, no browser). docs/web.md documents each endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from netlab.web.server import TOKEN_HEADER, make_app
from netlab.web.source import PlanSource
from tests.support.compile import plan
from tests.web.test_view import NATGW

TOKEN = "secret-token"
POST = {TOKEN_HEADER: TOKEN}


class Source(PlanSource):
    def __init__(self, plans: list[Any]):
        super().__init__(plans)
        self.released: list[str] = []
        self.saved: dict[str, dict[str, Any]] = {}  # lab -> its recorded last check

    def check(self, lab: str) -> dict[str, Any]:
        self.actions.append(("check", lab))
        self.saved[lab] = record = {"at": time.time(), "origin": "web", "report": {
            "lab": lab, "ok": True, "elapsed_s": 0.0, "results": []}}
        return {"lab": lab, "ok": True, "passed": 0, "total": 0, "elapsed_s": 0.0,
                "results": [], "at": record["at"], "origin": "web"}

    def last_check(self, lab: str) -> dict[str, Any] | None:
        return self.saved.get(lab)

    def release(self, lab: str) -> None:
        self.released.append(lab)

    def trace(self, lab: str, src: str, dst: str) -> dict[str, Any]:
        self.actions.append(("trace", lab, src, dst))
        return {"source": src, "target": dst, "hops": [], "reached": False, "path": None}


def run(test: Callable[[TestClient, Source], Awaitable[None]], **kw: Any) -> Source:
    """test(client, source) against a fresh app serving lab "natgw"."""
    source = Source([plan(NATGW)])

    async def main() -> None:
        app = make_app(source, TOKEN, **kw)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await test(client, source)

    asyncio.run(main())
    return source


def test_labs_graph_state() -> None:
    async def t(c: TestClient, s: Source) -> None:
        r = await c.get("/api/labs")
        assert r.status == 200 and await r.json() == {"labs": ["natgw"]}
        g = await (await c.get("/api/labs/natgw/graph")).json()
        assert {n["id"] for n in g["nodes"]} == {"pc1", "pc2", "gw", "web", "lan"}
        st = await (await c.get("/api/labs/natgw/state")).json()
        assert set(st["edges"]) == {e["id"] for e in g["edges"]}
        assert all(e["state"] == "up" for e in st["edges"].values())
        r = await c.get("/api/labs/other/graph")
        assert r.status == 404 and "not deployed" in (await r.json())["error"]
        info = await (await c.get("/api/info")).json()
        assert info["read_only"] is False

    run(t)


def test_page_carries_the_token_and_static_files_stay_inside() -> None:
    async def t(c: TestClient, s: Source) -> None:
        page = await (await c.get("/")).text()
        assert f'content="{TOKEN}"' in page and "cytoscape.min.js" in page
        r = await c.get("/static/vendor/cytoscape.min.js")
        assert r.status == 200 and r.content_type == "text/javascript"
        for bad in ("/static/../server.py", "/static/%2e%2e/server.py",
                    "/static/vendor/../../server.py", "/static/nothing.js"):
            assert (await c.get(bad)).status == 404, bad

    run(t)


def test_actions_go_through_the_source() -> None:
    async def t(c: TestClient, s: Source) -> None:
        r = await c.post("/api/labs/natgw/link", json={"a": "gw", "b": "web",
                                                       "action": "down"}, headers=POST)
        assert r.status == 200, await r.text()
        assert (await r.json())["done"] == "gw:eth1 <-> web:eth0: down"
        st = await (await c.get("/api/labs/natgw/state")).json()
        assert sorted(e["state"] for e in st["edges"].values()) == ["cut", "up", "up", "up"]
        r = await c.post("/api/labs/natgw/link", json={"a": "gw", "b": "nope",
                                                       "action": "down"}, headers=POST)
        assert r.status == 400 and "nope" in (await r.json())["error"]
        r = await c.post("/api/labs/natgw/exec", json={"node": "pc1", "command": "ip r"},
                         headers=POST)
        assert r.status == 200 and (await r.json())["returncode"] == 0
        r = await c.post("/api/labs/natgw/capture", json={"where": "pc1:eth0",
                                                          "seconds": 1}, headers=POST)
        assert r.status == 200 and r.content_type == "application/vnd.tcpdump.pcap"
        assert r.headers["X-Netlab-Packets"] == "0"
        r = await c.post("/api/labs/natgw/capture", json={"where": "pc1:eth0",
                                                          "seconds": 3600}, headers=POST)
        assert r.status == 400
        assert (await (await c.get("/api/labs/natgw/check")).json()) == {"check": None}
        r = await c.post("/api/labs/natgw/check", json={}, headers=POST)
        assert r.status == 200
        last = (await (await c.get("/api/labs/natgw/check")).json())["check"]
        assert last["lab"] == "natgw" and "at" in last
        r = await c.post("/api/labs/natgw/trace", json={"source": "pc1", "target": "web"},
                         headers=POST)
        assert r.status == 200

    s = run(t)
    assert [a[0] for a in s.actions] == ["link", "exec", "capture", "check", "trace"]


def test_bad_bodies_are_refused() -> None:
    async def t(c: TestClient, s: Source) -> None:
        for body in (b"not json", b"[1]", json.dumps({"node": "pc1"}).encode(),
                     json.dumps({"node": "pc1", "command": "x" * 5000}).encode()):
            r = await c.post("/api/labs/natgw/exec", data=body,
                             headers={**POST, "Content-Type": "application/json"})
            assert r.status == 400, body

    s = run(t)
    assert s.actions == []


def test_post_needs_the_token_header() -> None:
    """The page sends it; another site's form or fetch cannot (no CSRF)."""
    async def t(c: TestClient, s: Source) -> None:
        body = {"a": "gw", "b": "web", "action": "down"}
        for headers in ({}, {TOKEN_HEADER: "wrong"}):
            r = await c.post("/api/labs/natgw/link", json=body, headers=headers)
            assert r.status == 403 and TOKEN_HEADER in (await r.json())["error"]
        r = await c.post("/api/labs/natgw/link", json=body,
                         headers={**POST, "Origin": "http://evil.example"})
        assert r.status == 403

    s = run(t)
    assert s.actions == []


def test_loopback_refuses_foreign_host_names() -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused."""
    async def t(c: TestClient, s: Source) -> None:
        r = await c.get("/api/labs", headers={"Host": "evil.example:8470"})
        assert r.status == 403
        for host in ("localhost:8470", "127.0.0.1:8470", "[::1]:8470"):
            assert (await c.get("/api/labs", headers={"Host": host})).status == 200, host

    run(t)


def test_elsewhere_everything_needs_the_token() -> None:
    async def t(c: TestClient, s: Source) -> None:
        for path in ("/", "/api/labs", "/api/labs/natgw/graph", "/static/app.js"):
            r = await c.get(path)
            assert r.status == 401, path
            assert "token" in (await r.json())["error"]
        assert (await c.get("/api/labs?token=wrong")).status == 401
        r = await c.get(f"/?token={TOKEN}")
        assert r.status == 200
        # The token from the address becomes a cookie: later requests need nothing more.
        assert (await c.get("/api/labs")).status == 200
        assert (await c.get("/api/labs", headers={TOKEN_HEADER: TOKEN})).status == 200

    run(t, loopback=False)


def test_read_only_refuses_actions_but_not_looking_or_probing() -> None:
    async def t(c: TestClient, s: Source) -> None:
        for path, body in (("link", {"a": "gw", "b": "web", "action": "down"}),
                           ("exec", {"node": "pc1", "command": "reboot"}),
                           ("capture", {"where": "pc1:eth0"})):
            r = await c.post(f"/api/labs/natgw/{path}", json=body, headers=POST)
            assert r.status == 403 and "read-only" in (await r.json())["error"], path
        assert (await c.post("/api/labs/natgw/check", json={}, headers=POST)).status == 200
        assert (await (await c.get("/api/info")).json())["read_only"] is True
        assert 'name="netlab-read-only" content="true"' in await (await c.get("/")).text()

    s = run(t, read_only=True)
    assert [a[0] for a in s.actions] == ["check"]


def test_websocket_sends_live_state_every_second() -> None:
    async def t(c: TestClient, s: Source) -> None:
        async with c.ws_connect("/api/labs/natgw/live") as ws:
            first = json.loads((await ws.receive(timeout=3)).data)
            assert first["lab"] == "natgw" and len(first["edges"]) == 4
            s.down.add("w3")
            second = json.loads((await ws.receive(timeout=3)).data)
            assert second["edges"]["w3"]["state"] == "cut"
            assert second["t"] - first["t"] < 1.6
        r = await c.get("/api/labs/natgw/live", headers={"Origin": "http://evil.example"})
        assert r.status == 403

    run(t)


def test_websocket_says_when_the_lab_is_gone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from netlab.web import server

    monkeypatch.setattr(server, "LABS_EVERY", 0.0)

    async def t(c: TestClient, s: Source) -> None:
        async with c.ws_connect("/api/labs/natgw/live") as ws:
            first = json.loads((await ws.receive(timeout=3)).data)
            assert "edges" in first
            gone = s.plans.pop("natgw")
            msg = json.loads((await ws.receive(timeout=3)).data)
            assert msg == {"lab": "natgw", "gone": True}
            s.plans["natgw"] = gone
            msg = json.loads((await ws.receive(timeout=3)).data)
            assert "edges" in msg

    run(t)


def test_an_unwatched_lab_is_let_go() -> None:
    """Its sockets would keep a destroyed lab's namespaces in the kernel."""
    async def t(c: TestClient, s: Source) -> None:
        async with c.ws_connect("/api/labs/natgw/live") as ws:
            await ws.receive(timeout=3)
            assert s.released == []
        for _ in range(40):
            if s.released:
                break
            await asyncio.sleep(0.1)
        assert s.released == ["natgw"]

    run(t)


def _cli_record(passed: bool, at: float) -> dict[str, Any]:
    """What `netlab check --lab natgw` records: natgw's first expectation."""
    from netlab.probes.check import title

    e = plan(NATGW).expect[0]
    return {"format": 1, "at": at, "origin": "cli", "report": {
        "lab": "natgw", "ok": passed, "elapsed_s": 0.5, "passed": int(passed),
        "failed": int(not passed), "score": 1.0, "max_score": 1.0, "results": [
            {"index": e.index, "title": title(e), "passed": passed, "seen": "seen it",
             "details": [], "elapsed_s": 0.5, "tries": 1, "points": 1.0, "hint": None,
             "score": 1.0}]}}


def test_the_last_check_from_the_cli_is_shown_and_announced() -> None:
    """`netlab check` records its report in the lab's state; the endpoint shows the newest
    record (from the CLI or a page), and the live state says when it changed."""
    async def t(c: TestClient, s: Source) -> None:
        s.saved["natgw"] = _cli_record(True, 1000.0)
        last = (await (await c.get("/api/labs/natgw/check")).json())["check"]
        assert last["origin"] == "cli" and last["at"] == 1000.0
        assert [(r["index"], r["passed"], r["seen"]) for r in last["results"]] == [
            (0, True, "seen it")]
        assert last["passed"] == 1 and last["total"] == 1
        async with c.ws_connect("/api/labs/natgw/live") as ws:
            first = json.loads((await ws.receive(timeout=3)).data)
            assert first["check"] == {"at": 1000.0, "origin": "cli"}
            s.saved["natgw"] = _cli_record(False, 2000.0)  # checked again, in a terminal
            second = json.loads((await ws.receive(timeout=3)).data)
            assert second["check"] == {"at": 2000.0, "origin": "cli"}
        last = (await (await c.get("/api/labs/natgw/check")).json())["check"]
        assert last["at"] == 2000.0 and last["results"][0]["passed"] is False
        # A check from the page is recorded too, and is then the last one.
        r = await c.post("/api/labs/natgw/check", json={}, headers=POST)
        assert (await r.json())["origin"] == "web"
        last = (await (await c.get("/api/labs/natgw/check")).json())["check"]
        assert last["origin"] == "web" and last["at"] > 2000.0
        # Deployed again (no record): the old picture is not shown for the new lab.
        del s.saved["natgw"]
        assert (await (await c.get("/api/labs/natgw/check")).json()) == {"check": None}

    run(t)


def test_a_check_of_other_expectations_draws_no_path_for_them() -> None:
    """`netlab check FILE` of an edited file: its indices are not the saved plan's."""
    from netlab.web import view

    p = plan(NATGW)
    record = _cli_record(True, 1.0)
    report = view.report_of(record["report"])
    assert view.drawable(p, report) == {0}
    record["report"]["results"][0]["title"] = "pc9 -> nowhere: reach"
    assert view.drawable(p, view.report_of(record["report"])) == set()
