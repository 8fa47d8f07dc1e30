/* netlab web: the page. Reads /api/... (docs/web.md), draws the lab with cytoscape.js,
   follows the live websocket. Every text from the server goes in as text, never HTML. */
"use strict";

const TOKEN = document.querySelector('meta[name="netlab-token"]').content;
const READ_ONLY = document.querySelector('meta[name="netlab-read-only"]').content === "true";
const $ = (id) => document.getElementById(id);

// For tests and benchmarks: what the page has drawn and how long it took.
const view = window.netlabView = { ready: false, lab: null, layoutMs: null, layout: null,
  updates: 0, lastUpdate: null };

if (typeof cytoscapeFcose !== "undefined") cytoscape.use(cytoscapeFcose);

let cy = null, socket = null, current = null, graphData = null, lastState = null;
let checkData = null, wasGone = false;

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function say(text) { $("msg").textContent = text || ""; }

async function api(path, body) {
  const opts = { headers: { "X-Netlab-Token": TOKEN } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const kind = r.headers.get("Content-Type") || "";
  if (!kind.startsWith("application/json")) {
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    return r;
  }
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}

const labPath = (lab) => `/api/labs/${encodeURIComponent(lab)}`;

// --- formatting -----------------------------------------------------------------------

function si(x, unit) {
  if (x === undefined || x === null) return "–";
  const steps = [[1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [n, p] of steps) if (x >= n) return `${(x / n).toFixed(1)} ${p}${unit}`;
  return `${x < 10 && x > 0 ? x.toFixed(1) : Math.round(x)} ${unit}`;
}

function endRate(end) {
  // What crosses the wire from this end: what it sent.
  return { pps: end.tx_packets || 0, bps: (end.tx_bytes || 0) * 8 };
}

// --- layout ---------------------------------------------------------------------------

function starHub(g) {
  // A star: one node to which every other node is attached, and nothing else. Such labs
  // (a switch and its hosts) get rings around the hub: readable at 24 and at 500 hosts.
  const n = g.nodes.length;
  if (n < 8) return null;
  const nbrs = new Map(g.nodes.map((x) => [x.id, new Set()]));
  for (const e of g.edges) { nbrs.get(e.source).add(e.target); nbrs.get(e.target).add(e.source); }
  let hub = null;
  for (const [id, s] of nbrs) if (s.size === n - 1) hub = id;
  if (hub === null) return null;
  for (const [id, s] of nbrs) if (id !== hub && s.size !== 1) return null;
  return hub;
}

function natural(a, b) { return a.localeCompare(b, undefined, { numeric: true }); }

function ringPositions(g, hub) {
  const spacing = 75, step = 120;
  const kindOrder = { router: 0, switch: 1, host: 2 };
  const leaves = g.nodes.filter((x) => x.id !== hub)
    .sort((a, b) => (kindOrder[a.kind] ?? 3) - (kindOrder[b.kind] ?? 3) || natural(a.id, b.id));
  const pos = { [hub]: { x: 0, y: 0 } };
  let i = 0;
  for (let ring = 1; i < leaves.length; ring++) {
    const r = ring * step;
    const cap = Math.max(6, Math.floor((2 * Math.PI * r) / spacing));
    const here = Math.min(cap, leaves.length - i);
    for (let k = 0; k < here; k++, i++) {
      const a = (2 * Math.PI * k) / here - Math.PI / 2 + (ring % 2) * (Math.PI / here);
      pos[leaves[i].id] = { x: r * Math.cos(a), y: r * Math.sin(a) };
    }
  }
  return pos;
}

function layoutOptions(g) {
  const hub = starHub(g);
  if (hub !== null) {
    const pos = ringPositions(g, hub);
    return { name: "preset", positions: (n) => pos[n.id()], fit: true, padding: 30 };
  }
  const big = g.nodes.length > 300;
  return { name: typeof cytoscapeFcose !== "undefined" ? "fcose" : "cose",
    quality: big ? "draft" : "default", randomize: true, animate: false, fit: true,
    padding: 30, nodeDimensionsIncludeLabels: true,
    idealEdgeLength: g.nodes.length <= 60 ? 110 : 70,  // room for the links' labels
    nodeRepulsion: 6500, numIter: big ? 1500 : 2500, packComponents: true };
}

// --- the graph ------------------------------------------------------------------------

const STYLE = [
  { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "bottom",
    "text-wrap": "wrap",
    "text-margin-y": 3, "min-zoomed-font-size": 6, width: 26, height: 26,
    "background-color": "#bfdbfe", "border-width": 1, "border-color": "#1e3a8a" } },
  { selector: "node[kind = 'router']", style: { shape: "ellipse", "background-color": "#fde68a",
    "border-color": "#92400e", width: 32, height: 32 } },
  { selector: "node[kind = 'host']", style: { shape: "round-rectangle" } },
  { selector: "node[kind = 'switch']", style: { shape: "round-diamond",
    "background-color": "#bbf7d0", "border-color": "#166534", width: 38, height: 38 } },
  { selector: "node:selected", style: { "border-width": 3, "border-color": "#2563eb" } },
  { selector: "edge", style: { width: "data(width)", "line-color": "#9ca3af",
    "curve-style": "bezier", label: "data(label)", "font-size": 10, "text-rotation": "autorotate",
    "text-wrap": "wrap", "source-label": "data(srcLabel)", "target-label": "data(tgtLabel)",
    "source-text-offset": 26, "target-text-offset": 26, "source-text-rotation": "autorotate",
    "target-text-rotation": "autorotate",
    "min-zoomed-font-size": 6, "text-outline-color": "#fff", "text-outline-width": 2,
    color: "#111827" } },
  { selector: "edge:selected", style: { "line-color": "#2563eb" } },
  { selector: "edge.path-ok", style: { "line-color": "#16a34a", width: 5, "z-index": 5 } },
  // The link's state now wins over the path of an earlier check.
  { selector: "edge[state = 'down']", style: { "line-color": "#f59e0b", "line-style": "dashed" } },
  { selector: "edge[state = 'cut']", style: { "line-color": "#dc2626", "line-style": "dashed" } },
  { selector: "edge[state = 'missing']", style: { "line-color": "#d1d5db", "line-style": "dotted" } },
  { selector: "edge.path-bad", style: { "line-color": "#dc2626", width: 5,
    "line-style": "dashed", "z-index": 6 } },
  { selector: "node.path-ok", style: { "border-color": "#16a34a", "border-width": 3 } },
  { selector: "node.path-bad", style: { "border-color": "#dc2626", "border-width": 4,
    "background-color": "#fecaca" } },
];

// A link's labels: each node's interface near its end; in the middle, what is happening:
// state, shaping, traffic. A switch's ports are netlab's own names ("pc1-eth0"): not
// shown. Addresses are on the nodes (small labs) and in the side panel.
function endLabel(end) {
  return graphKind[end.owner] === "switch" ? "" : end.ifname;
}

function nodeLabel(n, small) {
  if (!small) return n.id;
  if (n.kind === "switch") return [n.id, ...(n.subnets || [])].join("\n");
  if (n.kind === "host") return [n.id, ...n.addresses.map((a) => a.split("/")[0])].join("\n");
  return n.id;
}

function edgeLabel(e, st) {
  if (!st || !st.ends || st.ends.length < 2) return "";
  const [a, b] = st.ends.map(endRate);
  const pps = Math.max(a.pps, b.pps), bps = Math.max(a.bps, b.bps);
  const lines = st.state === "up" ? [] : [st.state];
  const shaped = st.ends.map((x) => x.shaping).find((x) => x);
  if (shaped) lines.push(`⧗ ${shaped}`);
  if (pps > 0) lines.push(`${si(pps, "pkt/s")} ${si(bps, "bit/s")}`);
  return lines.join("\n");
}

function edgeWidth(st) {
  if (!st || !st.ends) return 2;
  const bps = Math.max(...st.ends.map((x) => (x.tx_bytes || 0) * 8));
  return bps > 0 ? Math.min(9, 2 + Math.log10(1 + bps / 1000)) : 2;
}

let graphKind = {};
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : word.endsWith("h") ? "es" : "s"}`;

function draw(g) {
  graphData = g;
  graphKind = Object.fromEntries(g.nodes.map((n) => [n.id, n.kind]));
  const elements = [];
  const small = g.nodes.length <= 60;
  for (const n of g.nodes) {
    elements.push({ group: "nodes", data: { ...n, label: nodeLabel(n, small) } });
  }
  for (const e of g.edges) {
    elements.push({ group: "edges", data: { id: e.id, source: e.source, target: e.target,
      state: "up", width: 2, label: "", srcLabel: endLabel(e.a), tgtLabel: endLabel(e.b),
      info: e } });
  }
  if (cy) cy.destroy();
  const t0 = performance.now();
  // Big labs: straight "haystack" edges and one pixel per CSS pixel keep panning and
  // zooming smooth (scripts/bench_web.py measures the frames).
  const big = g.nodes.length > 200;
  const style = big ? [...STYLE, { selector: "edge", style: { "curve-style": "haystack" } }]
    : STYLE;
  cy = window.cy = cytoscape({ container: $("cy"), elements, style,
    textureOnViewport: big, hideEdgesOnViewport: g.nodes.length > 300,
    pixelRatio: big ? 1 : "auto", boxSelectionEnabled: false });
  const opts = layoutOptions(g);
  view.layout = opts.name;
  const layout = cy.layout(opts);
  layout.one("layoutstop", () => {
    view.layoutMs = Math.round(performance.now() - t0);
    view.nodes = cy.nodes().length;
    view.ready = true;
  });
  layout.run();
  cy.on("tap", "node", (ev) => showNode(ev.target.id()));
  cy.on("tap", "edge", (ev) => showEdge(ev.target.id()));
  cy.on("tap", (ev) => { if (ev.target === cy) showNothing(); });
  $("summary").replaceChildren(
    el("h3", {}, `${g.lab}`),
    el("div", { class: "hint" }, g.description || ""),
    el("div", {}, [plural(g.nodes.filter((n) => n.kind !== "switch").length, "node"),
      plural(g.nodes.filter((n) => n.kind === "switch").length, "switch"),
      plural(g.edges.length, "link"), plural(g.expect, "expectation")].join(", ")));
}

// --- live state -----------------------------------------------------------------------

function applyState(st) {
  if (!cy || st.lab !== current) return;
  if (st.new || (wasGone && !st.gone)) { wasGone = false; open(st.lab); return; }  // redeployed
  if (st.gone) {
    wasGone = true;
    $("live").className = "gone";
    $("live").textContent = `lab ${st.lab} is no longer deployed`;
    refreshLabs();
    return;
  }
  lastState = st;
  const t0 = performance.now();
  cy.batch(() => {
    for (const [id, s] of Object.entries(st.edges || {})) {
      const e = cy.getElementById(id);
      if (e.empty()) continue;
      e.data({ state: s.state, width: edgeWidth(s), label: edgeLabel(e.data("info"), s),
        live: s });
    }
  });
  view.applyMs = Math.round((performance.now() - t0) * 10) / 10;
  view.updates += 1;
  view.lastUpdate = Date.now();
  $("live").className = st.error ? "stale" : "ok";
  $("live").textContent = st.error ? `error: ${st.error}`
    : `live · ${new Date(st.t * 1000).toLocaleTimeString()}`;
  const drift = st.drift || [];
  $("drift-box").hidden = drift.length === 0;
  $("drift").replaceChildren(...drift.map((d) => el("li", {}, d)));
  const sel = cy.$(":selected");
  if (sel.length === 1 && sel.isEdge()) showEdge(sel.id(), true);
  if (st.check && (!checkData || st.check.at > (checkData.at || 0))) fetchCheck(st.lab);
}

// A newer check was recorded (`netlab check` in a terminal, or another page): show it.
let fetchingCheck = false;
async function fetchCheck(lab) {
  if (fetchingCheck || checkRunning) return;
  fetchingCheck = true;
  try {
    const last = await api(`${labPath(lab)}/check`);
    if (lab === current && last.check) showCheck(last.check);
  } catch (e) { say(e.message); }
  fetchingCheck = false;
}

function follow(lab) {
  if (socket) { socket.onclose = null; socket.close(); }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}${labPath(lab)}/live`);
  socket.onmessage = (m) => applyState(JSON.parse(m.data));
  socket.onclose = () => {
    $("live").className = "stale";
    $("live").textContent = "reconnecting…";
    setTimeout(() => { if (current === lab) follow(lab); }, 1000);
  };
}

// --- the side panel ---------------------------------------------------------------------

function showNothing() {
  $("selection").replaceChildren(el("p", { class: "hint" },
    "Click a node or a link for details and actions."));
}

function showNode(id) {
  const n = cy.getElementById(id).data();
  const links = graphData.edges.filter((e) => e.source === id || e.target === id);
  const parts = [el("h3", {}, `${n.kind} ${id}`)];
  if (n.subnets && n.subnets.length) parts.push(el("div", {}, `subnet ${n.subnets.join(", ")}`));
  parts.push(el("table", {}, links.map((e) => {
    const mine = e.a.owner === id ? e.a : e.b, other = e.a.owner === id ? e.b : e.a;
    return el("tr", {}, el("td", {}, mine.ifname), el("td", {}, mine.addresses.join(" ")),
      el("td", {}, `→ ${other.label}`));
  })));
  if (n.kind !== "switch") {
    $("trace-src").value = id;
    if (!READ_ONLY) {
      const out = el("pre", { id: "exec-out", hidden: "" });
      const input = el("input", { id: "exec-cmd", placeholder: "command, e.g. ip route",
        size: 26, required: "" });
      const form = el("form", { id: "exec-form", onsubmit: async (ev) => {
        ev.preventDefault();
        out.hidden = false;
        out.textContent = `${id}# ${input.value}\n…`;
        try {
          const r = await api(`${labPath(current)}/exec`, { node: id, command: input.value });
          out.textContent = `${id}# ${r.command}\n${r.stdout}${r.stderr}`
            + `\n(exit ${r.returncode === null ? "none: stopped" : r.returncode}, ${r.elapsed_s} s)`;
        } catch (e) { out.textContent = `error: ${e.message}`; }
      } }, input, el("button", {}, "Run"));
      parts.push(el("h3", {}, `Run in ${id}`), form, out);
    }
  }
  $("selection").replaceChildren(...parts);
}

function showEdge(id, refresh) {
  const e = cy.getElementById(id);
  const info = e.data("info"), live = e.data("live");
  const rows = [info.a, info.b].map((end, i) => {
    const s = live && live.ends ? live.ends[i] : {};
    return el("tr", {}, el("td", {}, end.label), el("td", {}, end.addresses.join(" ")),
      el("td", { class: `state-${s.held_down ? "cut" : s.state === "up" ? "up" : s.state}` },
        s.held_down ? "cut" : s.state || "?"),
      el("td", {}, `sends ${si(s.tx_packets, "pkt/s")}, ${si((s.tx_bytes || 0) * 8, "bit/s")}`
        + (s.shaping ? `; ${s.shaping}` : "")));
  });
  const table = el("table", { id: "edge-table" }, rows);
  if (refresh && document.getElementById("edge-table")
      && $("selection").dataset.edge === id) {
    $("edge-table").replaceWith(table);
    return;
  }
  const parts = [el("h3", {}, `link ${info.label}`), table];
  if (!READ_ONLY) {
    const a = info.a.label, b = info.b.label;
    const act = async (body) => {
      try { say((await api(`${labPath(current)}/link`, { a, b, ...body })).done); }
      catch (err) { say(err.message); }
    };
    const rate = el("input", { placeholder: "rate, e.g. 1mbit", size: 10 });
    const loss = el("input", { placeholder: "loss, e.g. 2%", size: 8 });
    parts.push(el("form", { onsubmit: (ev) => ev.preventDefault() },
      el("button", { type: "button", id: "link-down", onclick: () => act({ action: "down" }) }, "Down"),
      el("button", { type: "button", id: "link-up", onclick: () => act({ action: "up" }) }, "Up")));
    parts.push(el("form", { onsubmit: (ev) => {
      ev.preventDefault();
      act({ action: "set", rate: rate.value || null, loss: loss.value || null });
    } }, rate, loss, el("button", {}, "Set"),
    el("button", { type: "button", onclick: () => act({ action: "set", clear: true }) }, "Clear")));
    const where = el("select", {}, el("option", { value: a }, a), el("option", { value: b }, b));
    const secs = el("input", { type: "number", value: 5, min: 1, max: 60, size: 3 });
    parts.push(el("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      say(`capturing on ${where.value} for ${secs.value} s…`);
      try {
        const r = await api(`${labPath(current)}/capture`,
          { where: where.value, seconds: Number(secs.value) });
        const blob = await r.blob();
        const link = el("a", { href: URL.createObjectURL(blob),
          download: `${current}-${where.value.replace(":", "-")}.pcap` });
        document.body.append(link); link.click(); link.remove();
        say(`${r.headers.get("X-Netlab-Packets")} packet(s) captured on ${where.value}`);
      } catch (err) { say(err.message); }
    } }, "capture on", where, "for", secs, "s", el("button", {}, "Capture")));
  }
  $("selection").replaceChildren(...parts);
  $("selection").dataset.edge = id;
}

// --- paths: check and trace -------------------------------------------------------------

function clearPaths() { if (cy) cy.elements().removeClass("path-ok path-bad"); }

function drawPath(p) {
  if (!p) return;
  for (const n of p.nodes) cy.getElementById(n).addClass("path-ok");
  for (const e of p.edges) cy.getElementById(e).addClass("path-ok");
  for (const e of p.blocked) cy.getElementById(e).removeClass("path-ok").addClass("path-bad");
  if (p.stopped_at) cy.getElementById(p.stopped_at).removeClass("path-ok").addClass("path-bad");
}

function showCheck(c) {
  checkData = c;
  const list = $("expect");
  if (!c) { list.replaceChildren(); $("check-sum").textContent = ""; return; }
  const at = (c.at ? ` at ${new Date(c.at * 1000).toLocaleTimeString()}` : "")
    + ({ cli: " by netlab check", web: " from the page" }[c.origin] || "");
  $("check-sum").textContent = `${c.passed}/${c.total} passed${at} (${c.elapsed_s} s)`;
  list.replaceChildren(...c.results.map((r) => {
    const li = el("li", { class: `expect ${r.passed ? "pass" : "fail"}`, "data-index": r.index },
      `${r.passed ? "✔" : "✘"} ${r.title}`, el("span", { class: "seen" }, r.seen),
      r.path ? el("span", { class: "seen" }, `last answer: ${r.path.answered}`) : null,
      r.hint ? el("span", { class: "hint" }, r.hint) : null);
    li.addEventListener("click", () => {
      const again = li.classList.contains("selected");
      for (const x of list.children) x.classList.remove("selected");
      clearPaths();
      if (again) { drawAll(); return; }
      li.classList.add("selected");
      drawPath(r.path);
    });
    return li;
  }));
  drawAll();
}

function drawAll() {
  // Every path at once: passing ones first, so that where a failing one stopped shows.
  clearPaths();
  if (!checkData) return;
  for (const r of checkData.results.filter((x) => x.passed)) drawPath(r.path);
  for (const r of checkData.results.filter((x) => !x.passed)) drawPath(r.path);
}

let checkRunning = false;
async function runCheck() {
  const b = $("check");
  b.disabled = true;
  checkRunning = true;
  say("checking…");
  try {
    showCheck(await api(`${labPath(current)}/check`, {}));
    say("");
  } catch (e) { say(e.message); }
  checkRunning = false;
  b.disabled = false;
}

async function runTrace(ev) {
  ev.preventDefault();
  const src = $("trace-src").value, dst = $("trace-dst").value;
  $("trace-out").textContent = "tracing…";
  try {
    const t = await api(`${labPath(current)}/trace`, { source: src, target: dst });
    clearPaths();
    drawPath(t.path);
    $("trace-out").replaceChildren(el("table", {}, t.hops.map((h) => el("tr", {},
      el("td", {}, h.ttl), el("td", {}, h.node || "*"), el("td", {}, h.address || ""),
      el("td", {}, h.rtt_ms === null ? "" : `${h.rtt_ms.toFixed(2)} ms`),
      el("td", {}, h.note || "")))),
    el("div", { class: t.reached ? "state-up" : "state-cut" },
      t.reached ? `reached ${t.address}` : `stopped: ${t.path.answered}`));
  } catch (e) { $("trace-out").textContent = e.message; }
}

// --- labs -----------------------------------------------------------------------------

async function refreshLabs() {
  let names = [];
  try { names = (await api("/api/labs")).labs; } catch (e) { say(e.message); return names; }
  const sel = $("lab");
  const have = [...sel.options].map((o) => o.value).join(",");
  if (have !== names.join(",")) {
    sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (current && names.includes(current)) sel.value = current;
  }
  if (!names.length) {
    $("live").className = "stale";
    $("live").textContent = "no lab deployed";
  }
  return names;
}

async function open(lab) {
  current = view.lab = lab;
  view.ready = false;
  wasGone = false;
  checkData = null;
  $("lab").value = lab;
  history.replaceState(null, "", `?lab=${encodeURIComponent(lab)}`);
  showNothing();
  showCheck(null);
  try {
    draw(await api(`${labPath(lab)}/graph`));
    follow(lab);
    const last = await api(`${labPath(lab)}/check`);
    if (last.check) showCheck(last.check);
  } catch (e) { say(e.message); }
}

async function start() {
  if (READ_ONLY) $("readonly").hidden = false;
  $("check").onclick = runCheck;
  $("fit").onclick = () => cy && cy.fit(undefined, 30);
  $("trace-form").onsubmit = runTrace;
  $("lab").onchange = () => open($("lab").value);
  const info = await api("/api/info");
  const names = await refreshLabs();
  const wanted = new URLSearchParams(location.search).get("lab") || info.default_lab;
  const lab = names.includes(wanted) ? wanted : names[0];
  if (lab) await open(lab);
  setInterval(async () => {
    const now = await refreshLabs();
    if (!current && now.length) open(now[0]);
  }, 5000);
}

start();
