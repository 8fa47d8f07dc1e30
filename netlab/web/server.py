"""The web view's server: an aiohttp application serving the page, its JSON endpoints
and a websocket of live state (docs/web.md lists the endpoints).

Who may do what:
- bound to a loopback address (the default), anyone on this machine may look; requests
  whose Host is not a loopback name are refused (a DNS-rebinding page cannot reach it);
- bound elsewhere, every request needs the token printed at start (`?token=` once: it
  becomes a cookie; or the X-Netlab-Token header);
- every POST needs the X-Netlab-Token header, which only the page itself has (it is in
  the page; another site's page cannot read it, nor send that header without a CORS
  preflight this server never answers): no cross-site request forgery;
- with read_only, the actions (link, exec, capture) are refused; looking, check and
  trace (probes that change nothing) stay.
Blocking work (the API, probes, actions) runs in threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import threading
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from netlab.errors import NetlabError, UsageError
from netlab.web import view

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from netlab.web.source import Source

TOKEN_HEADER = "X-Netlab-Token"
TOKEN_COOKIE = "netlab_token"
INTERVAL = 1.0  # seconds between live samples
# Seconds between checks that a watched lab is still deployed. The live view's sockets
# hold a destroyed lab's namespaces in the kernel until it lets them go: soon.
LABS_EVERY = 2.0
COMMAND_MAX = 4096  # characters of a command from the page

SOURCE: web.AppKey[Source] = web.AppKey("source")
CONFIG: web.AppKey[dict[str, Any]] = web.AppKey("config")
HUBS: web.AppKey[dict[str, Hub]] = web.AppKey("hubs")
CHECKS: web.AppKey[dict[str, Any]] = web.AppKey("checks")
CHECK_LOCKS: web.AppKey[dict[str, asyncio.Lock]] = web.AppKey("check_locks")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _static() -> Any:
    return resources.files("netlab.web") / "static"


class Hub:
    """One lab's live state, sampled once a second while a page watches it, and sent to
    every watching websocket."""

    def __init__(self, app: web.Application, lab: str):
        self.app, self.lab = app, lab
        self.sockets: set[web.WebSocketResponse] = set()
        self.task: asyncio.Task[None] | None = None

    def join(self, ws: web.WebSocketResponse) -> None:
        self.sockets.add(ws)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while self.sockets:
            await self.serve()
            await asyncio.to_thread(self.app[SOURCE].release, self.lab)  # nobody watches
            # A page that joined meanwhile found this task still running: serve it too.

    async def serve(self) -> None:
        """A sample a second to every watching websocket, while there are any."""
        source = self.app[SOURCE]
        checked = time.monotonic()
        while self.sockets:
            start = time.monotonic()
            if start - checked >= LABS_EVERY:
                checked = start
                now = await asyncio.to_thread(source.recheck, self.lab)
                if now != "same":  # the page says it, or draws the new lab
                    await self.send({"lab": self.lab, now: True})
                    await asyncio.sleep(INTERVAL)
                    continue
            try:
                state = await asyncio.to_thread(source.sample, self.lab)
            except Exception as e:  # said on the page; the next second tries again
                text = str(e) if isinstance(e, NetlabError) else f"{type(e).__name__}: {e}"
                state = {"lab": self.lab, "error": text, "edges": {}}
            state["check"] = await asyncio.to_thread(_check_stamp, source, self.lab)
            await self.send(state)
            await asyncio.sleep(max(0.05, INTERVAL - (time.monotonic() - start)))

    async def send(self, state: dict[str, Any]) -> None:
        text = json.dumps(state)
        for ws in list(self.sockets):
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.sockets.discard(ws)


def _check_stamp(source: Source, lab: str) -> dict[str, Any] | None:
    """When and from where the lab's last check came ({"at", "origin"}): a page that
    shows an older one asks for it (GET .../check)."""
    try:
        record = source.last_check(lab)
    except Exception:  # an unreadable record: no stamp; the live state still goes out
        return None
    return None if record is None else {"at": record["at"], "origin": record["origin"]}


# --- access ----------------------------------------------------------------------------


def _token_of(request: web.Request) -> str:
    return (request.headers.get(TOKEN_HEADER) or request.query.get("token")
            or request.cookies.get(TOKEN_COOKIE) or "")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@web.middleware
async def guard(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    cfg = request.app[CONFIG]
    token = cfg["token"]
    if cfg["loopback"]:
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if not is_loopback(host):
            return _error(403, f"refused: Host {request.host!r} is not this machine's"
                               " loopback (open http://127.0.0.1:PORT/)")
    elif not _same(_token_of(request), token):
        return _error(401, "a token is needed: open the address `netlab web` printed"
                           " (…/?token=...)")
    if request.method == "POST" and not _same(request.headers.get(TOKEN_HEADER, ""), token):
        return _error(403, f"refused: POST needs the {TOKEN_HEADER} header (the page sends"
                           " it)")
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        return _error(403, f"refused: a request from another site ({origin})")
    response = await handler(request)
    if not cfg["loopback"] and request.query.get("token"):
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
    return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _refuse_read_only(request: web.Request) -> None:
    if request.app[CONFIG]["read_only"]:
        raise web.HTTPForbidden(text=json.dumps(
            {"error": "this view is read-only (netlab web --read-only): no actions"}),
            content_type="application/json")


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a thread; a NetlabError becomes a JSON error (400: a bad request)."""
    try:
        return await asyncio.to_thread(fn, *args)
    except UsageError as e:
        raise web.HTTPBadRequest(text=json.dumps({"error": str(e)}),
                                 content_type="application/json") from None
    except NetlabError as e:
        raise web.HTTPConflict(text=json.dumps({"error": str(e)}),
                               content_type="application/json") from None


async def _lab(request: web.Request) -> str:
    lab = request.match_info["lab"]
    if lab not in await asyncio.to_thread(request.app[SOURCE].names):
        raise web.HTTPNotFound(text=json.dumps({"error": f"lab {lab!r} is not deployed"}),
                               content_type="application/json")
    return lab


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be a JSON object"}),
                                 content_type="application/json")
    return data


def _text_field(data: dict[str, Any], key: str, required: bool = True,
                limit: int = 200) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise web.HTTPBadRequest(text=json.dumps(
            {"error": f"{key!r}: a text of 1 to {limit} characters is needed"}),
            content_type="application/json")
    return value.strip()


# --- handlers ----------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    html = (_static() / "index.html").read_text()
    html = html.replace("{{TOKEN}}", cfg["token"]).replace(
        "{{READ_ONLY}}", "true" if cfg["read_only"] else "false")
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    root = _static()
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise web.HTTPNotFound()
    f = root.joinpath(*parts)
    if not f.is_file():
        raise web.HTTPNotFound()
    kind = {"js": "text/javascript", "css": "text/css", "html": "text/html"}.get(
        name.rsplit(".", 1)[-1], "text/plain")
    return web.Response(body=f.read_bytes(), content_type=kind,
                        headers={"Cache-Control": "no-cache"})


async def info(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    return web.json_response({"read_only": cfg["read_only"], "interval_s": INTERVAL,
                              "default_lab": cfg.get("lab")})


async def labs(request: web.Request) -> web.Response:
    return web.json_response({"labs": await _call(request.app[SOURCE].names)})


async def graph(request: web.Request) -> web.Response:
    lab = await _lab(request)
    plan = await _call(request.app[SOURCE].plan, lab)
    return web.json_response(view.graph(plan))


async def state(request: web.Request) -> web.Response:
    lab = await _lab(request)
    sample = await _call(request.app[SOURCE].sample, lab)
    hub = request.app[HUBS].get(lab)
    if hub is None or not hub.sockets:
        # Rates need two samples: requests a second apart get them; a minute after the
        # last one, sockets are let go (unless a page watches the lab by then).
        asyncio.get_running_loop().call_later(60, _release_unwatched, request.app, lab)
    return web.json_response(sample)


def _release_unwatched(app: web.Application, lab: str) -> None:
    hub = app[HUBS].get(lab)
    if hub is None or not hub.sockets:
        app[SOURCE].release(lab)


async def live(request: web.Request) -> web.StreamResponse:
    lab = await _lab(request)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    hubs = request.app[HUBS]
    hub = hubs.get(lab) or hubs.setdefault(lab, Hub(request.app, lab))
    hub.join(ws)
    try:
        async for msg in ws:  # nothing is read from the page; this waits for the close
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.sockets.discard(ws)
    return ws


async def last_check(request: web.Request) -> web.Response:
    """The lab's last check, from `netlab check` or from a page: the newest recorded one,
    its paths traced the first time it is asked for (then kept: every page gets the
    same picture)."""
    lab = await _lab(request)
    app = request.app
    record = await _call(app[SOURCE].last_check, lab)
    if record is None:  # none yet, or the lab was deployed again since: nothing to show
        app[CHECKS].pop(lab, None)
    elif _newer(record, app[CHECKS].get(lab)):
        lock = app[CHECK_LOCKS].setdefault(lab, asyncio.Lock())
        async with lock:  # pages asking at once: one of them traces, the others wait
            if _newer(record, app[CHECKS].get(lab)):
                app[CHECKS][lab] = await _call(app[SOURCE].show_check, lab, record)
    return web.json_response({"check": app[CHECKS].get(lab)})


def _newer(record: dict[str, Any], shown: dict[str, Any] | None) -> bool:
    return shown is None or record["at"] > shown.get("at", 0)


async def run_check(request: web.Request) -> web.Response:
    lab = await _lab(request)
    result = await _call(request.app[SOURCE].check, lab)
    result.setdefault("at", time.time())
    result.setdefault("origin", "web")
    request.app[CHECKS][lab] = result
    return web.json_response(result)


async def trace(request: web.Request) -> web.Response:
    lab = await _lab(request)
    data = await _body(request)
    src, dst = _text_field(data, "source"), _text_field(data, "target")
    return web.json_response(await _call(request.app[SOURCE].trace, lab, src, dst))


async def link(request: web.Request) -> web.Response:
    _refuse_read_only(request)
    lab = await _lab(request)
    data = await _body(request)
    a, b = _text_field(data, "a"), _text_field(data, "b")
    action = _text_field(data, "action", limit=10)
    values: dict[str, str | None] = {k: _text_field(data, k, required=False, limit=40)
                                     for k in ("rate", "delay", "jitter", "loss")}
    if data.get("clear"):
        values["clear"] = "1"
    said = await _call(request.app[SOURCE].link, lab, a, b, action, values)
    return web.json_response({"done": said})


async def run_exec(request: web.Request) -> web.Response:
    _refuse_read_only(request)
    lab = await _lab(request)
    data = await _body(request)
    node = _text_field(data, "node")
    command = _text_field(data, "command", limit=COMMAND_MAX)
    result = await _call(request.app[SOURCE].exec, lab, node, command)
    request.app[SOURCE].changed(lab)  # a command may have changed links
    return web.json_response(result)


async def capture(request: web.Request) -> web.Response:
    from netlab.web.source import CAPTURE_MAX_PACKETS, CAPTURE_MAX_S

    _refuse_read_only(request)
    lab = await _lab(request)
    data = await _body(request)
    where = _text_field(data, "where")
    bpf = _text_field(data, "filter", required=False, limit=500)
    try:
        seconds = float(data.get("seconds", 5))
        count = None if data.get("count") in (None, "") else int(data["count"])
    except (TypeError, ValueError):
        return _error(400, "'seconds' and 'count' must be numbers")
    if not 0 < seconds <= CAPTURE_MAX_S or (count is not None
                                            and not 0 < count <= CAPTURE_MAX_PACKETS):
        return _error(400, f"capture 0-{CAPTURE_MAX_S:g} seconds and at most"
                           f" {CAPTURE_MAX_PACKETS} packets")
    pcap, n = await _call(request.app[SOURCE].capture, lab, where, seconds, count, bpf)
    name = f"{lab}-{where.replace(':', '-')}.pcap"
    return web.Response(body=pcap, content_type="application/vnd.tcpdump.pcap",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "X-Netlab-Packets": str(n)})


def make_app(source: Source, token: str, read_only: bool = False, loopback: bool = True,
             lab: str | None = None) -> web.Application:
    """The application. token: needed for every POST, and for everything when not
    loopback (bound to another address); lab: the one the page shows first."""
    app = web.Application(middlewares=[guard], client_max_size=1 << 16)
    app[SOURCE] = source
    app[CONFIG] = {"token": token, "read_only": read_only, "loopback": loopback, "lab": lab}
    app[HUBS] = {}
    app[CHECKS] = {}
    app[CHECK_LOCKS] = {}
    r = app.router
    r.add_get("/", index)
    r.add_get("/static/{path:.+}", static)
    r.add_get("/api/info", info)
    r.add_get("/api/labs", labs)
    r.add_get("/api/labs/{lab}/graph", graph)
    r.add_get("/api/labs/{lab}/state", state)
    r.add_get("/api/labs/{lab}/live", live)
    r.add_get("/api/labs/{lab}/check", last_check)
    r.add_post("/api/labs/{lab}/check", run_check)
    r.add_post("/api/labs/{lab}/trace", trace)
    r.add_post("/api/labs/{lab}/link", link)
    r.add_post("/api/labs/{lab}/exec", run_exec)
    r.add_post("/api/labs/{lab}/capture", capture)

    async def close(app: web.Application) -> None:
        for hub in app[HUBS].values():
            for ws in list(hub.sockets):
                with contextlib.suppress(Exception):
                    await ws.close()
            if hub.task is not None:
                hub.task.cancel()
        await asyncio.to_thread(source.close)

    app.on_shutdown.append(close)
    return app


class Background:
    """The application served from a thread of this process (tests, scripts): .url, then
    .stop(). The page and its API behave as under `netlab web`."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0):
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app, access_log=None)
        started = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.runner.setup())
                self.loop.run_until_complete(web.TCPSite(self.runner, host, port).start())
            except BaseException as e:  # said in the caller's thread
                failed.append(e)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="netlab-web", daemon=True)
        self.thread.start()
        started.wait(30)
        if failed:
            raise failed[0]
        self.url = f"http://{host}:{self.runner.addresses[0][1]}/"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
