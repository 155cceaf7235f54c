/*
 * The dashboard's live part: /api/events (one SSE message per bus event, named by its type in
 * galfriday/events.py) applied to the page. Loaded after app.js, whose state and refreshers
 * it uses.
 *
 * Rules:
 * - An event updates what it carries at once (an order, a connection's state or health, the
 *   top of the book) and asks for a refresh of the tables it touches (soon(): at most once
 *   per 300 ms); the periodic polls put right whatever an event could not.
 * - EventSource hears named events only, so every type is listed in EVENT_TYPES; each is
 *   counted per second for the "events on the stream" table.
 * - EventSource cannot send a header: with a token stored (which a server other machines can
 *   reach wants for reads too) the stream is read through fetch instead (followWithToken),
 *   reconnecting after 3 s like EventSource does. The stream's pill says which (data-via).
 */
"use strict";

// Every event type galfriday/events.py defines (EventSource hears named events only).
const EVENT_TYPES = [
  "BookUpdate", "TickerUpdate", "TradePrint", "CandleUpdate", "OrderUpdate", "FillEvent",
  "BalanceChange", "OrderAnomaly", "ConnectionStateChanged", "HealthChanged", "GapDetected",
  "ResyncStarted", "FrameRefused", "BalanceRecorded", "LedgerEntryLearnt", "BookChecks",
  "RecoveryFinished", "Discrepancy", "BalanceAdjusted", "ReviewItem", "ReconciliationReport",
  "Alert", "PnlUpdate", "EventsLost",
];

// --- the event stream ----------------------------------------------------------------------

const onEvent = {
  BookUpdate(e) {
    if (e.symbol === state.symbol) renderTopOfBook(e.bid_side || e.bids, e.ask_side || e.asks, e.verified);
  },
  OrderUpdate(e) {
    const order = e.order;
    if (FINAL_STATUSES.has(order.status)) state.orders.delete(order.order_id);
    else state.orders.set(order.order_id, order);
    renderOrders();
  },
  FillEvent() { soon(refreshFills); soon(refreshMoney); },
  BalanceRecorded(e) { state.balances[e.asset] = e.balance; soon(refreshMoney); },
  ConnectionStateChanged(e) { noteConnection(e.connection, { state: e.new }); renderConnections(); },
  HealthChanged(e) { noteConnection(e.connection, { health: e.new, reasons: e.reasons }); renderConnections(); },
  ReconciliationReport() { soon(refreshReconciliations); soon(refreshReviews); },
  ReviewItem() { soon(refreshReviews); },
  Alert() { soon(refreshAlerts); },
  EventsLost(e) { state.lost = e.lost; },
};

function deliver(type, data) {
  countEvent(type);
  const handler = onEvent[type];
  if (!handler) return;
  try {
    handler(JSON.parse(data));
  } catch (error) {
    console.warn(`dashboard: event ${type}: ${error.message}`);
  }
}

function openEventSource() {
  $("stream-state").dataset.via = "eventsource";
  const source = new EventSource("api/events");
  source.onopen = () => pill("stream-state", "live", "events: live");
  source.onerror = () => pill("stream-state", "connecting", "events: reconnecting");
  for (const type of EVENT_TYPES) source.addEventListener(type, (message) => deliver(type, message.data));
  return source;
}

// The stream through fetch, for a server that wants the token for reads; reconnects itself.
async function followWithToken() {
  $("stream-state").dataset.via = "fetch";
  for (;;) {
    try {
      const response = await fetch("api/events", { headers: { Authorization: `Bearer ${token()}` } });
      if (!response.ok || !response.body) throw new Error(`${response.status}`);
      pill("stream-state", "live", "events: live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          parseMessage(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      console.warn(`dashboard: event stream: ${error.message}`);
    }
    pill("stream-state", "connecting", "events: reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

function parseMessage(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length) deliver(type, data.join("\n"));
}

