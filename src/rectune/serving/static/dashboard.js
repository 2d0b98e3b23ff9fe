// rectune dashboard: polls the service's /v1/dashboard/* routes and draws inline SVG charts.
// Hand-written, no library, nothing fetched from elsewhere. Every chart line is a
// <path class="line" data-series=NAME data-points=K>, so a headless browser can check it.
"use strict";

const REFRESH_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { user: null, n: 10, versions: null, series: null };

// ------------------------------------------------------------------ small helpers
function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  if (digits !== undefined) return x.toFixed(digits);
  if (a >= 1e6) return (x / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (x / 1e3).toFixed(1) + "k";
  if (a >= 100 || Number.isInteger(x)) return Math.round(x).toLocaleString("en");
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
function wrap(text) { return el("td", { class: "t" }, text); }
function clock(t) { return new Date(t * 1000).toISOString().slice(11, 19); }
function isoShort(s) { return s ? s.replace("T", " ").slice(0, 19) : "–"; }
function epoch(s) { return s ? Date.parse(s) / 1000 : null; }
async function getJSON(url) {
  const res = await fetch(url, { cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body.detail || ""}`.trim());
  return body;
}
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}
function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map(([cells, cls]) => {
    const tr = el("tr", cls ? { class: cls } : {});
    for (const c of cells) tr.append(c instanceof Node ? c : el("td", {}, c));
    return tr;
  }));
}

// ------------------------------------------------------------------ the one chart function
// series: [{name, label, cls, points: [[x, y], ...], dash, step}]; opts: {time, yLabel,
// xLabel, dots: [{x, y, cls, title}], yMin}
function lineChart(svg, series, opts) {
  opts = opts || {};
  // Drawn in the element's own pixels (no stretched text); redrawn on resize.
  const W = Math.max(200, svg.clientWidth || 600), H = Math.max(120, svg.clientHeight || 220);
  const L = 52, R = 12, T = 22, B = 30;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const pts = series.flatMap((s) => s.points).concat((opts.dots || []).map((d) => [d.x, d.y]))
    .filter((p) => p[1] !== null && p[1] !== undefined && Number.isFinite(p[1]));
  if (!pts.length) {
    svg.append(el("svg:text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" },
      opts.empty || "no data yet"));
    return;
  }
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  if (opts.yMin !== undefined) y0 = Math.min(y0, opts.yMin);
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { const d = Math.abs(y0) * 0.05 || 1; y0 -= d; y1 += d; }
  const pad = (y1 - y0) * 0.08; y1 += pad; if (opts.yMin === undefined) y0 -= pad;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (const v of niceTicks(y0, y1, 4)) {
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }));
    svg.append(el("svg:text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  for (const v of niceTicks(x0, x1, 5)) {
    svg.append(el("svg:text", { x: sx(v), y: H - B + 16, "text-anchor": "middle" },
      opts.time ? clock(v) : fmt(v)));
  }
  svg.append(el("svg:line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  svg.append(el("svg:line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  if (opts.yLabel) svg.append(el("svg:text", { x: 4, y: 12 }, opts.yLabel));
  let lx = L + 8 + (opts.yLabel ? Math.max(0, 6.5 * opts.yLabel.length - L) : 0);
  if (opts.xLabel) svg.append(el("svg:text", { x: W - R, y: 12, "text-anchor": "end" }, opts.xLabel));
  const legend = el("svg:g", { class: "legend" });
  for (const s of series) {
    const ok = s.points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    let d = "";
    ok.forEach((p, k) => {
      if (s.step && k > 0) d += `H${sx(p[0]).toFixed(1)}V${sy(p[1]).toFixed(1)}`;
      else d += `${k ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`;
    });
    if (s.step && ok.length && opts.xEnd !== undefined) d += `H${sx(opts.xEnd).toFixed(1)}`;
    const cls = `${s.step ? "step" : "line"} ${s.cls}${s.dash ? " dash" : ""}`;
    svg.append(el("svg:path", { d, class: cls, "data-series": s.name, "data-points": ok.length }));
    if (ok.length === 1 && !s.step) {
      svg.append(el("svg:circle", { cx: sx(ok[0][0]), cy: sy(ok[0][1]), r: 3, class: s.cls }));
    }
    if (s.label) {
      legend.append(el("svg:rect", { x: lx, y: 6, width: 10, height: 3, class: s.cls }));
      const text = el("svg:text", { x: lx + 14, y: 11 }, s.label);
      legend.append(text);
      lx += 24 + 6.2 * s.label.length;
    }
  }
  svg.append(legend);
  for (const d of opts.dots || []) {
    const c = el("svg:circle", { cx: sx(d.x), cy: sy(d.y), r: 4, class: `dot ${d.cls}`,
      "data-version": d.version });
    c.append(el("svg:title", {}, d.title));
    svg.append(c);
  }
}

// ------------------------------------------------------------------ versions and guard
function guardCell(v) {
  const g = v.guard;
  if (!g) return ["–", "–"];
  const checks = (g.checks || []).map((c) =>
    `${c.metric} ${fmt(c.candidate, 4)} vs ${fmt(c.current, 4)} (${c.passed ? "ok" : "beyond"} ${c.op}${c.allowed})`);
  return [`${g.action}${g.forced ? " (forced)" : ""}${g.guard ? " " + g.guard : ""}`,
    checks.join("; ") || "no accuracy check"];
}
function preqText(p) {
  if (!p) return "–";
  return Object.entries(p).filter(([k]) => k !== "n")
    .map(([k, v]) => `${k} ${fmt(v, 4)}`).join(", ") + (p.n ? ` (n ${fmt(p.n)})` : "");
}
function drawVersions(data) {
  const rows = data.versions;
  const champion = data.aliases.champion;
  const dots = rows.map((v) => {
    const g = v.guard ? v.guard.action : null;
    const cls = g === "refuse" ? "bad" : (g === "promote" || v.aliases.length ? "ok" : "idle");
    return { x: epoch(v.created_at), y: v.version, cls, version: v.version,
      title: `v${v.version} ${g || "not promoted"} ${guardCell(v)[1]}` };
  });
  const promos = data.audit.filter((a) => a.alias === "champion"
    && (a.action === "promote" || a.action === "rollback"));
  const step = promos.map((a) => [epoch(a.at), a.to_version]);
  for (const a of data.audit.filter((r) => r.action === "rollback")) {
    dots.push({ x: epoch(a.at), y: a.to_version, cls: "back", version: a.to_version,
      title: `rollback v${a.from_version} -> v${a.to_version}` });
  }
  lineChart($("chart-versions"), [{ name: "champion", label: "champion", cls: "s0", step: true,
    points: step }], { time: true, yLabel: "version", dots, xEnd: Date.now() / 1000 });
  const tbody = $("versions-table").querySelector("tbody");
  fillRows(tbody, rows.slice().reverse().map((v) => {
    const [action, checks] = guardCell(v);
    const ev = v.events ? `${v.events.first_seq}..${v.events.last_seq} (${v.events.count})` : "–";
    const cls = [v.version === champion ? "champion" : "", v.guard && v.guard.action === "refuse"
      ? "refuse" : ""].join(" ").trim();
    return [[`v${v.version}`, v.parent ?? "–", v.aliases.join(", ") || "–", isoShort(v.created_at),
      ev, v.update ? v.update.policy : "init", wrap(preqText(v.prequential)), wrap(action),
      wrap(checks)], cls];
  }));
  const count = (act) => data.audit.filter((a) => a.action === act).length;
  $("t-guard").textContent =
    `${rows.length} · ${count("promote")} · ${count("refuse")} · ${count("rollback")}`;
  // The prequential curve: x = the store position the learned events end at.
  const withP = rows.filter((v) => v.prequential && v.events)
    .sort((a, b) => a.events.last_seq - b.events.last_seq);
  const names = [...new Set(withP.flatMap((v) => Object.keys(v.prequential)))]
    .filter((k) => k !== "n");
  lineChart($("chart-preq"), names.map((k, i) => ({ name: k, label: k, cls: `s${i + 1}`,
    points: withP.map((v) => [v.events.last_seq, v.prequential[k]]) })),
  { xLabel: "store seq", yLabel: names.join(" / "), empty: "no updater version yet" });
  const s = data.serving;
  $("serving").textContent = s ? `${s.alias} = v${s.version}` : "no model loaded";
  $("t-version").textContent = s ? `v${s.version}` : "–";
  const u = data.updater;
  $("updater").textContent = u ? `updater ${u.state}${u.cycles !== undefined ? `, ${u.cycles} cycles` : ""}`
    : "updater off";
}

// ------------------------------------------------------------------ live series
function drawSeries(data) {
  const s = data.samples;
  const last = s.length ? s[s.length - 1] : null;
  lineChart($("chart-rate"), [{ name: "rate", label: "rows/s", cls: "s2",
    points: s.map((p) => [p.t, p.rate]) }], { time: true, yLabel: "ingest (rows/s)", yMin: 0 });
  lineChart($("chart-lag"), [{ name: "lag", label: "lag", cls: "s4",
    points: s.map((p) => [p.t, p.lag]) }], { time: true, yLabel: "updater lag (events)", yMin: 0 });
  const table = Object.entries(data.latency).sort((a, b) => b[1].n - a[1].n);
  const top = table.slice(0, 3).map(([r]) => r);
  const lines = [];
  top.forEach((route, i) => {
    const pick = (q) => s.filter((p) => p.latency[route]).map((p) => [p.t, p.latency[route][q]]);
    lines.push({ name: `${route} p99`, label: route, cls: `s${i}`, points: pick("p99") });
    lines.push({ name: `${route} p50`, cls: `s${i}`, dash: true, points: pick("p50") });
  });
  lineChart($("chart-latency"), lines, { time: true, yLabel: "ms", yMin: 0,
    empty: "no requests yet" });
  fillRows($("latency-table").querySelector("tbody"), table.map(([route, r]) =>
    [[route, fmt(r.rps, 1), fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.n)]]));
  $("t-seq").textContent = last ? fmt(last.last_seq) : "–";
  $("t-rate").textContent = last ? fmt(last.rate) : "–";
  $("t-lag").textContent = last ? fmt(last.lag) : "–";
}

// ------------------------------------------------------------------ the user panel
function itemCell(row) {
  const td = el("td", { class: "t", title: `item ${row.item_id}` });
  td.textContent = row.title ? `${row.title} (${row.item_id})` : String(row.item_id);
  return td;
}
async function lookUser() {
  if (state.user === null) return;
  const url = `/v1/dashboard/user/${encodeURIComponent(state.user)}?n=${state.n}&recent=15`;
  try {
    const u = await getJSON(url);
    fillRows($("recent-table").querySelector("tbody"), u.recent.map((r) =>
      [[itemCell(r), fmt(r.value, 1), new Date(r.timestamp * 1000).toISOString().slice(0, 16)
        .replace("T", " ")]]));
    fillRows($("seen-table").querySelector("tbody"), u.seen.map((r) => [[itemCell(r), fmt(r.value, 1)]]));
    fillRows($("rec-table").querySelector("tbody"), u.recommendations.map((r, k) =>
      [[k + 1, itemCell(r), fmt(r.score, 3)]]));
    $("recent-note").textContent = `(${u.recent.length} newest in the store)`;
    $("seen-note").textContent = `(${u.seen_count} items)`;
    $("rec-note").textContent = `(v${u.model_version}${u.fallback ? ", popularity fallback" : ""})`;
    $("user-status").textContent = `user ${u.user_id}: ${u.known ? "known to the model"
      : "unknown to the model"}${u.titles ? "" : "; the service has no titles (ids shown)"}`;
    $("user-panel").setAttribute("data-user", String(u.user_id));
  } catch (err) {
    $("user-status").textContent = String(err.message || err);
  }
}

// ------------------------------------------------------------------ the loop
async function refresh() {
  const [v, s] = await Promise.allSettled([getJSON("/v1/dashboard/versions"),
    getJSON("/v1/dashboard/series?seconds=600")]);
  const errors = [];
  if (v.status === "fulfilled") drawVersions(state.versions = v.value);
  else errors.push(v.reason.message);
  if (s.status === "fulfilled") drawSeries(state.series = s.value);
  else errors.push(s.reason.message);
  await lookUser();
  const st = $("status");
  st.textContent = errors.length ? `error: ${errors.join("; ")}` : `updated ${new Date().toISOString().slice(11, 19)} UTC`;
  st.className = errors.length ? "status error" : "status";
  document.body.setAttribute("data-refreshed", String(Date.now()));
}
function start() {
  const q = new URLSearchParams(location.search);
  if (q.get("user")) { state.user = q.get("user"); $("user-id").value = state.user; }
  if (q.get("n")) { state.n = Math.max(1, Math.min(100, parseInt(q.get("n"), 10) || 10)); }
  $("user-n").value = state.n;
  $("refresh-seconds").textContent = String(REFRESH_MS / 1000);
  $("user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("user-id").value.trim();
    state.user = id || null;
    state.n = Math.max(1, Math.min(100, parseInt($("user-n").value, 10) || 10));
    const q2 = new URLSearchParams(location.search);
    if (state.user) q2.set("user", state.user); else q2.delete("user");
    history.replaceState(null, "", `?${q2}`);
    lookUser();
  });
  window.addEventListener("resize", () => {
    if (state.versions) drawVersions(state.versions);
    if (state.series) drawSeries(state.series);
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
}
start();
