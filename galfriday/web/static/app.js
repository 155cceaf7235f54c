/*
 * galfriday's live dashboard. Plain JavaScript, no build step, nothing from another origin.
 *
 * Rules:
 * - Data comes from the engine's JSON API (galfriday/web/api.py), read at start and every
 *   POLL_MS, and from its event stream (/api/events, one SSE message per bus event, named by
 *   the event's type in galfriday/events.py). An event never waits for the next poll: it
 *   updates what it can at once, and asks for a refresh of the tables it touches.
 * - Money and quantities arrive as decimal strings and are shown as they came. Sums shown
 *   as text (the spread, account values) use exact decimal arithmetic on BigInt; floats are
 *   used only to place points on a chart.
 * - Nothing the server sends is put into the page as HTML: text goes in as text.
 * - The token (for writes, or for everything on a server other machines can reach) is asked
 *   for when needed and kept in sessionStorage only: it is gone when the tab closes.
 * - The event stream is followed by stream.js; the charts are drawn by charts.js.
 * - Histories (health, rates, P&L) live in this page only and cover WINDOW_S seconds.
 */
"use strict";

const POLL_MS = 3000;
const BOOK_POLL_MS = 1500;
const BOOK_DEPTH = 25;
const WINDOW_S = 600;
const TOKEN_KEY = "galfriday.token";
const SYMBOL_KEY = "galfriday.symbol";
const FINAL_STATUSES = new Set(["filled", "canceled", "expired"]);
const SEVERITIES = ["critical", "high", "medium", "low"];

const state = {
  symbol: localStorage.getItem(SYMBOL_KEY),
  symbols: [],
  connections: {},          // name -> latest {state, health, reasons, rate}
  health: {},               // name -> [{t, state, health}], oldest first
  rates: {},                // name -> [{t, v}]
  orders: new Map(),        // order_id -> OrderView (open orders only)
  balances: {},             // asset -> decimal string
  positions: [],
  pnl: {},                  // quote -> [{t, v}]
  pnlBase: {},              // quote -> decimal string (the first value seen)
  eventBuckets: [],         // [{second, counts: {type: n}}], last 10 seconds
  lost: 0,
  readsNeedToken: false,
};

// --- small helpers -------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : String(child ?? ""));
  }
  return node;
}

function show(text, kind = "error") {
  const notice = $("notice");
  notice.hidden = !text;
  notice.textContent = text || "";
  notice.dataset.kind = kind;
}

function pill(id, stateName, text) {
  const node = $(id);
  node.dataset.state = stateName;
  node.textContent = text;
}

function clock(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "";
  const when = typeof epochSeconds === "number" ? new Date(epochSeconds * 1000) : new Date(epochSeconds);
  return when.toLocaleTimeString([], { hour12: false });
}

const nowSeconds = () => Date.now() / 1000;

// How much history a chart shows: since the first point, from one minute to WINDOW_S.
function shownWindow(series) {
  const first = Math.min(...Object.values(series).map((points) => (points[0] ? points[0].t : Infinity)));
  return Math.min(WINDOW_S, Math.max(60, nowSeconds() - first || 0));
}

// A decimal string without trailing fractional zeros ("65001.500" -> "65001.5"): same value.
function trimZeros(text) {
  if (typeof text !== "string" || !text.includes(".")) return text;
  return text.replace(/\.?0+$/, "") || "0";
}
const dash = (value) => (value === null || value === undefined || value === "" ? "–" : String(value));

// Exact decimals: a decimal string as [BigInt digits, scale].
function parseDecimal(text) {
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match) return null;
  const fraction = match[3] || "";
  const digits = BigInt((match[1] || "") + ((match[2] || "0") + fraction));
  return [digits, fraction.length];
}

function decimalSum(values) {
  const parsed = values.map(parseDecimal);
  if (parsed.some((p) => p === null)) return null;
  const scale = Math.max(0, ...parsed.map((p) => p[1]));
  let total = 0n;
  for (const [digits, s] of parsed) total += digits * 10n ** BigInt(scale - s);
  const negative = total < 0n;
  const text = (negative ? -total : total).toString().padStart(scale + 1, "0");
  const whole = scale ? `${text.slice(0, -scale)}.${text.slice(-scale)}` : text;
  return (negative ? "-" : "") + whole;
}

const decimalDiff = (a, b) => decimalSum([a, String(b).startsWith("-") ? String(b).slice(1) : `-${b}`]);

// Runs fn at most once per `ms`, the last call winning (for refreshes asked for by events).
const pending = new Map();
function soon(fn, ms = 300) {
  if (pending.has(fn)) return;
  pending.set(fn, setTimeout(() => { pending.delete(fn); fn(); }, ms));
}

// --- the API -------------------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function askToken(why) {
  const given = window.prompt(`${why}\nThe server's http.token (kept in this tab only):`, "");
  if (given === null) return null;
  const trimmed = given.trim();
  if (trimmed) sessionStorage.setItem(TOKEN_KEY, trimmed);
  else sessionStorage.removeItem(TOKEN_KEY);
  return trimmed || null;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401 && (options.method || "GET") === "GET") {
    state.readsNeedToken = true;
    show("This server needs the token for reading too: use “set token”.");
  }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    const error = new Error(`${response.status} ${detail}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// One failing route must not stop the others: each refresh reports its own error.
async function guarded(name, fn) {
  try {
    await fn();
  } catch (error) {
    console.warn(`dashboard: ${name}: ${error.message}`);
  }
}

// --- connections and rates -------------------------------------------------------------------

function record(series, name, point) {
  const list = (series[name] = series[name] || []);
  list.push(point);
  const start = nowSeconds() - WINDOW_S;
  while (list.length > 1 && list[1].t < start) list.shift();
}

function noteConnection(name, change) {
  const latest = { ...(state.connections[name] || {}), ...change };
  state.connections[name] = latest;
  record(state.health, name, { t: nowSeconds(), state: latest.state, health: latest.health });
}

async function refreshStatus() {
  const status = await api("api/status");
  pill("engine-health", status.healthy ? "ok" : "unhealthy", status.healthy ? "healthy" : "unhealthy");
  pill("engine-ready", status.ready ? "ready" : "waiting",
    status.ready ? "ready" : `waiting: ${(status.waiting || []).join(", ")}`);
  $("summary").textContent = status.summary || "";
  const t = nowSeconds();
  for (const [name, info] of Object.entries(status.connections || {})) {
    noteConnection(name, { state: info.state, health: info.health, reasons: info.reasons || [], rate: info.rate });
    if (typeof info.rate === "number") record(state.rates, name, { t, v: info.rate });
  }
  const symbols = (status.books && status.books.symbols) || [];
  if (symbols.join() !== state.symbols.join()) chooseSymbols(symbols);
  renderConnections();
}

function renderConnections() {
  const rows = Object.entries(state.connections).map(([name, info]) => el("tr", {},
    el("td", {}, name),
    el("td", { class: info.state === "subscribed" ? "healthy" : "down" }, dash(info.state)),
    el("td", { class: info.health || "starting" }, dash(info.health)),
    el("td", { class: "num" }, typeof info.rate === "number" ? `${info.rate.toFixed(1)} msg/s` : "–"),
    el("td", {}, (info.reasons || []).join("; "))));
  const table = el("table", { class: "compact" },
    el("thead", {}, el("tr", {}, ...["connection", "socket", "health", "rate", "reasons"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
  $("connection-table").replaceChildren(table);
  drawHealth($("health-chart"), state.health, nowSeconds(), shownWindow(state.health));
  drawLines($("rate-chart"), $("rate-legend"), state.rates, nowSeconds(), shownWindow(state.rates), "msg/s");
}

function countEvent(type) {
  const second = Math.floor(nowSeconds());
  let bucket = state.eventBuckets[state.eventBuckets.length - 1];
  if (!bucket || bucket.second !== second) {
    bucket = { second, counts: {} };
    state.eventBuckets.push(bucket);
    while (state.eventBuckets.length && state.eventBuckets[0].second <= second - 10) state.eventBuckets.shift();
  }
  bucket.counts[type] = (bucket.counts[type] || 0) + 1;
}

function renderEventRates() {
  const second = Math.floor(nowSeconds());
  const totals = {};
  for (const bucket of state.eventBuckets) {
    if (bucket.second <= second - 10) continue;
    for (const [type, n] of Object.entries(bucket.counts)) totals[type] = (totals[type] || 0) + n;
  }
  const rows = Object.entries(totals).sort((a, b) => b[1] - a[1]).map(([type, n]) =>
    el("tr", {}, el("td", {}, type), el("td", { class: "num" }, (n / 10).toFixed(1))));
  if (state.lost) rows.push(el("tr", {}, el("td", {}, "lost (slow page)"), el("td", { class: "num" }, state.lost)));
  $("event-rates").tBodies[0].replaceChildren(...rows);
}

// --- the book ------------------------------------------------------------------------------

function chooseSymbols(symbols) {
  state.symbols = symbols;
  if (!symbols.includes(state.symbol)) state.symbol = symbols[0] || null;
  const select = $("book-symbol");
  select.replaceChildren(...symbols.map((s) => el("option", { value: s }, s)));
  if (state.symbol) select.value = state.symbol;
  guarded("book", refreshBook);
}

async function refreshBook() {
  if (!state.symbol) return;
  const symbol = state.symbol;
  const book = await api(`api/books/${encodeURIComponent(symbol)}?depth=${BOOK_DEPTH}`);
  if (symbol !== state.symbol) return;
  renderTopOfBook(book.bids, book.asks, book.verified);
  drawDepth($("depth-chart"), book.bids, book.asks);
}

function renderTopOfBook(bids, asks, verified) {
  pill("book-verified", verified ? "verified" : "unverified", verified ? "verified" : "unverified");
  const bid = bids && bids[0];
  const ask = asks && asks[0];
  $("best-bid").textContent = bid ? bid[0] : "–";
  $("best-bid-qty").textContent = bid ? `× ${bid[1]}` : "";
  $("best-ask").textContent = ask ? ask[0] : "–";
  $("best-ask-qty").textContent = ask ? `× ${ask[1]}` : "";
  $("spread").textContent = bid && ask ? dash(decimalDiff(ask[0], bid[0])) : "–";
}

// --- orders and fills ----------------------------------------------------------------------

async function refreshOrders() {
  const orders = await api("api/orders?open=1");
  state.orders = new Map(orders.map((order) => [order.order_id, order]));
  renderOrders();
}

function renderOrders() {
  const rows = [...state.orders.values()].map((o) => el("tr", { "data-order-id": o.order_id },
    el("td", { class: "mono", title: o.cl_ord_id || "" }, o.order_id),
    el("td", {}, dash(o.symbol)),
    el("td", { class: o.side || "" }, dash(o.side)),
    el("td", {}, dash(o.order_type)),
    el("td", { class: "num" }, dash(o.order_qty)),
    el("td", { class: "num" }, dash(o.limit_price)),
    el("td", { class: "num" }, dash(o.cum_qty)),
    el("td", {}, dash(o.status))));
  $("open-orders").tBodies[0].replaceChildren(...rows);
  $("open-orders-empty").hidden = rows.length > 0;
  $("orders-count").textContent = rows.length ? `(${rows.length})` : "";
}

function fees(value) {
  let list = value;
  if (typeof value === "string") {
    try { list = JSON.parse(value); } catch (_) { return value; }
  }
  if (!Array.isArray(list)) return dash(value);
  return list.map((fee) => (Array.isArray(fee) ? `${fee[1]} ${fee[0]}` : JSON.stringify(fee))).join(", ");
}

async function refreshFills() {
  const fills = await api("api/fills?limit=25");
  const rows = fills.map((f) => el("tr", { "data-exec-id": f.exec_id },
    el("td", {}, clock(f.at_wall)),
    el("td", {}, dash(f.symbol)),
    el("td", { class: f.side || "" }, dash(f.side)),
    el("td", { class: "num" }, dash(f.qty)),
    el("td", { class: "num" }, dash(f.price)),
    el("td", {}, fees(f.fees)),
    el("td", {}, dash(f.liquidity))));
  $("recent-fills").tBodies[0].replaceChildren(...rows);
  $("recent-fills-empty").hidden = rows.length > 0;
}

// --- balances, positions and P&L -----------------------------------------------------------

async function refreshMoney() {
  const [balances, positions] = await Promise.all([api("api/balances"), api("api/positions")]);
  state.balances = balances || {};
  state.positions = positions || [];
  notePnl();
  renderMoney();
}

// The account's value per quote currency (its balance plus the pairs quoted in it, at mid),
// as a change since the first value this page saw. Skipped while a pair has no mid.
function notePnl() {
  const byQuote = {};
  for (const position of state.positions) {
    const quote = String(position.symbol).split("/")[1];
    if (!quote) continue;
    (byQuote[quote] = byQuote[quote] || []).push(position.value);
  }
  const t = nowSeconds();
  for (const [quote, values] of Object.entries(byQuote)) {
    if (values.some((v) => v === null || v === undefined)) continue;
    const value = decimalSum([state.balances[quote] || "0", ...values]);
    if (value === null) continue;
    if (!(quote in state.pnlBase)) state.pnlBase[quote] = value;
    const change = decimalDiff(value, state.pnlBase[quote]);
    record(state.pnl, quote, { t, v: Number(change), text: trimZeros(change) });
  }
}

// A pair's P&L since the engine started (the API's pnl object; null before its first fill):
// net in the cell, its parts on hover.
function pnlTitle(pnl) {
  if (!pnl) return "no fill counted yet";
  const part = (value) => (value === null || value === undefined ? "-" : trimZeros(value));
  return `realised ${part(pnl.realised)}, unrealised ${part(pnl.unrealised)} at ${part(pnl.mark)},`
    + ` fees ${part(pnl.fees)}, position ${part(pnl.position)} @ ${part(pnl.average_cost)}`;
}

function renderMoney() {
  const balanceRows = Object.entries(state.balances).map(([asset, amount]) =>
    el("tr", { "data-asset": asset }, el("td", {}, asset), el("td", { class: "num" }, dash(amount))));
  $("balances").tBodies[0].replaceChildren(...balanceRows);
  const positionRows = state.positions.map((p) => el("tr", { "data-symbol": p.symbol },
    el("td", {}, p.symbol),
    el("td", { class: "num" }, dash(p.qty)),
    el("td", { class: "num" }, dash(trimZeros(p.mid))),
    el("td", { class: "num" }, dash(trimZeros(p.value))),
    el("td", { class: "num", title: pnlTitle(p.pnl) }, dash(trimZeros(p.pnl && p.pnl.net)))));
  $("positions").tBodies[0].replaceChildren(...positionRows);
  drawLines($("pnl-chart"), $("pnl-legend"), state.pnl, nowSeconds(), shownWindow(state.pnl), "", true);
}

// --- reconciliation, reviews, alerts -------------------------------------------------------

function bySeverity(run) {
  try {
    return JSON.parse(run.report || "{}").by_severity || {};
  } catch (_) {
    return {};
  }
}

async function refreshReconciliations() {
  const runs = await api("api/reconciliations?limit=40");
  drawReconciliations($("recon-chart"), runs.slice().reverse().map((run) => ({
    status: run.status, counts: bySeverity(run), label: `${clock(run.at_wall)} ${run.type} ${run.status}`,
  })), SEVERITIES);
  const rows = runs.slice(0, 8).map((run) => el("tr", { "data-run-id": run.id },
    el("td", { title: run.id }, clock(run.at_wall)),
    el("td", {}, dash(run.type)),
    el("td", { class: run.status === "clean" ? "healthy" : run.status === "failed" ? "unhealthy" : "degraded",
      title: run.error || "" }, dash(run.status)),
    el("td", { class: "num" }, dash(run.discrepancies)),
    el("td", { class: "num" }, dash(run.auto_corrected)),
    el("td", { class: "num" }, dash(run.manual_review)),
    el("td", { class: "num" }, typeof run.duration_ms === "number" ? run.duration_ms.toFixed(0) : "–")));
  $("recon-runs").tBodies[0].replaceChildren(...rows);
}

async function refreshReviews() {
  const items = await api("api/reviews");
  const rows = items.map((item) => {
    const note = el("input", { class: "note", placeholder: "why (kept in the audit)", "aria-label": "note" });
    const decide = (decision, label) => {
      const button = el("button", { type: "button", "data-decision": decision }, label);
      button.addEventListener("click", () => resolveReview(item.id, decision, note, button));
      return button;
    };
    return el("tr", { "data-item-id": item.id, title: `${item.id} (run ${item.reconciliation_id})` },
      el("td", { class: `sev-${item.severity}` }, item.severity),
      el("td", {}, item.kind),
      el("td", {}, item.subject),
      el("td", { class: "num" }, dash(item.internal)),
      el("td", { class: "num" }, dash(item.exchange)),
      el("td", { class: "decide" }, note, decide("accept-exchange", "use exchange's"), " ",
        decide("keep-internal", "keep ours")));
  });
  $("review-queue").tBodies[0].replaceChildren(...rows);
  $("review-queue-empty").hidden = rows.length > 0;
  $("reviews-count").textContent = rows.length ? `(${rows.length})` : "";
}

async function resolveReview(itemId, decision, noteInput, button) {
  const note = noteInput.value.trim();
  if (!note) {
    show(`Say why before deciding ${itemId}: the note is kept in the audit trail.`);
    noteInput.focus();
    return;
  }
  if (!token() && !askToken(`Deciding ${itemId} needs the token.`)) return;
  button.disabled = true;
  try {
    await api(`api/reviews/${encodeURIComponent(itemId)}/resolve`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ decision, note }),
    });
    show(`${itemId}: ${decision} recorded.`, "info");
  } catch (error) {
    if (error.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    show(`${itemId} was not resolved: ${error.message}`);
  } finally {
    button.disabled = false;
    guarded("reviews", refreshReviews);
  }
}

async function refreshAlerts() {
  const alerts = await api("api/alerts?limit=30");
  renderAlerts(alerts);
}

function renderAlerts(alerts) {
  const items = alerts.map((a) => el("li", {},
    el("span", { class: "when" }, clock(a.at_wall ?? a.received_at)),
    el("span", { class: `sev sev-${a.severity}` }, a.severity),
    el("span", { class: "mono" }, `${a.source}: `),
    a.message));
  $("alert-list").replaceChildren(...items);
  $("alert-list-empty").hidden = items.length > 0;
}

// --- start ---------------------------------------------------------------------------------

function pollTables() {
  guarded("orders", refreshOrders);
  guarded("fills", refreshFills);
  guarded("money", refreshMoney);
  guarded("reconciliations", refreshReconciliations);
  guarded("reviews", refreshReviews);
  guarded("alerts", refreshAlerts);
}

async function start() {
  $("book-symbol").addEventListener("change", (event) => {
    state.symbol = event.target.value;
    localStorage.setItem(SYMBOL_KEY, state.symbol);
    guarded("book", refreshBook);
  });
  $("token-button").addEventListener("click", () => {
    const before = token();
    askToken("Set the token (empty: forget it).");
    if (token() !== before) window.location.reload();  // the stream reopens with it
  });
  await guarded("status", refreshStatus);
  pollTables();
  if (token()) followWithToken();
  else openEventSource();
  setInterval(() => guarded("status", refreshStatus), POLL_MS);
  setInterval(pollTables, POLL_MS);
  setInterval(() => guarded("book", refreshBook), BOOK_POLL_MS);
  setInterval(renderEventRates, 1000);
}

document.addEventListener("DOMContentLoaded", start);
