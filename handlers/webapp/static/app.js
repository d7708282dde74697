// Xtrades Sentinel's dashboard: one page, no build step, nothing from outside the bot.
// Telegram hands the page its signed initData and theme either through window.Telegram.WebApp (when a client
// injects it) or in the URL fragment (#tgWebAppData=…&tgWebAppThemeParams=…); every API call sends initData.
"use strict";

const POLL_MS = 10000;
const state = { initData: "", chats: [], chat: null, page: "alerts", posStatus: "open", posSort: ["opened", -1],
  positions: [], expanded: null, timer: null, lastAlerts: "" };

function launchParams() {
  const tg = window.Telegram && window.Telegram.WebApp;
  if (tg && tg.initData) return { initData: tg.initData, theme: tg.themeParams || {}, scheme: tg.colorScheme };
  const hash = new URLSearchParams(location.hash.slice(1));
  let theme = {};
  try { theme = JSON.parse(hash.get("tgWebAppThemeParams") || "{}"); } catch (e) { theme = {}; }
  return { initData: hash.get("tgWebAppData") || sessionStorage.getItem("initData") || "", theme: theme };
}

function postEvent(type, data) {  // Telegram's client bridge, without telegram-web-app.js
  const body = JSON.stringify(data || {});
  try {
    if (window.TelegramWebviewProxy) window.TelegramWebviewProxy.postEvent(type, body);
    else if (window.external && window.external.notify) window.external.notify(JSON.stringify({ eventType: type, eventData: data || {} }));
    else if (window.parent !== window) window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data || {} }), "*");
  } catch (e) { /* outside Telegram: nothing to tell */ }
}

function luminance(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return 1;
  const n = parseInt(m[1], 16);
  return (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
}

function applyTheme(theme, scheme) {
  const root = document.documentElement;
  const keys = Object.keys(theme || {});
  if (!keys.length) return;
  root.classList.add("themed");
  for (const key of keys) {
    if (/^[a-z_]+$/.test(key) && /^#[0-9a-f]{3,8}$/i.test(theme[key])) {
      root.style.setProperty("--tg-" + key.replace(/_/g, "-"), theme[key]);
    }
  }
  root.classList.toggle("dark", scheme ? scheme === "dark" : luminance(theme.bg_color) < 0.5);
}

// --- helpers ---------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (sel) => document.querySelector(sel);
const money = (v, signed) => v === null || v === undefined ? "n/a" :
  (signed && v > 0 ? "+" : v < 0 ? "−" : "") + "$" + Math.abs(v).toLocaleString("en-US", { maximumFractionDigits: 0 });
const price = (v) => v === null || v === undefined ? "n/a" : "$" + Number(v).toFixed(2);
const pct = (v, digits) => v === null || v === undefined ? "n/a" : (v * 100).toFixed(digits || 0) + "%";
const signedPct = (v) => v === null || v === undefined ? "" : (v > 0 ? "+" : "") + v.toFixed(0) + "%";
const tone = (v) => v > 0 ? "pos" : v < 0 ? "neg" : "";
function shortDate(iso) {
  // A day (an expiry: "2026-12-14") is that day everywhere; a moment is shown in the chat's time zone.
  if (!iso) return "";
  const dayOnly = iso.length === 10;
  const d = new Date(dayOnly ? iso + "T12:00:00Z" : iso);
  if (isNaN(d)) return iso;
  const zone = dayOnly ? "UTC" : (state.chat && state.chat.zone) || "UTC";
  try {
    return new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: zone }).format(d);
  } catch (e) {
    return new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" }).format(d);
  }
}
function contract(a) {
  if (a.contract) return a.contract; // named by its structure ("SPY Iron Condor 535/540/580/585"), not its first leg
  const kind = a.option_type ? " " + a.option_type.toUpperCase() : "";
  const strike = a.strike !== null && a.strike !== undefined ? " $" + a.strike : "";
  return a.symbol + strike + kind;
}

class Unauthorized extends Error {}

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  init.headers.Authorization = "tma " + state.initData;
  if (init.body && typeof init.body !== "string") {
    init.body = JSON.stringify(init.body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized();
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
  return data;
}

function chatPath(rest) { return "api/chats/" + state.chat.id + rest; }

function setStatus(text, isError) {
  const node = $("#status");
  node.textContent = text || "";
  node.hidden = !text;
  node.classList.toggle("error", !!isError);
}

function fail(error) {
  if (error instanceof Unauthorized) {
    document.querySelectorAll(".page").forEach((p) => { p.hidden = true; });
    setStatus("This dashboard opens from the bot in Telegram (the menu button or /dashboard). Open it from there again.", true);
  } else {
    setStatus(error.message || String(error), true);
  }
}

// --- pages ---------------------------------------------------------------------------------------------

function showPage(page) {
  state.page = page;
  document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.page === page)));
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "page-" + page; });
  clearInterval(state.timer);
  state.timer = null;
  const load = { alerts: loadAlerts, positions: loadPositions, traders: loadTraders, analytics: loadAnalytics,
    settings: loadSettings }[page];
  load().catch(fail);
  if (page === "alerts") state.timer = setInterval(() => loadAlerts(true).catch(fail), POLL_MS);
}

function fillSelect(select, values, label) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "All" }), ...values.map((v) => el("option", { value: v, text: label ? label(v) : v })));
  select.value = values.includes(current) ? current : "";
}

function filterQuery() {
  const form = new FormData($("#filters"));
  const query = new URLSearchParams();
  for (const [k, v] of form.entries()) if (String(v).trim()) query.set(k, String(v).trim());
  return query.toString();
}

let alertsAsked = 0;

async function loadAlerts(quiet) {
  const asked = ++alertsAsked;
  const data = await api(chatPath("/alerts?" + filterQuery()));
  if (asked !== alertsAsked) return;  // a newer question (another filter) is on its way: this answer is stale
  setStatus("");
  const form = $("#filters");
  fillSelect(form.trader, data.traders, (v) => "@" + v);
  fillSelect(form.symbol, data.symbols);
  fillSelect(form.structure, data.structures);
  const signature = JSON.stringify(data.alerts);
  $("#live").textContent = "Live: refreshed every " + POLL_MS / 1000 + " s · " + data.alerts.length + " alert" +
    (data.alerts.length === 1 ? "" : "s");
  if (quiet && signature === state.lastAlerts) return;
  state.lastAlerts = signature;
  const body = $("#alerts tbody");
  body.replaceChildren();
  if (!data.alerts.length) {
    body.append(el("tr", {}, el("td", { colspan: 4, class: "empty",
      text: data.traders.length ? "No scored alerts match." : "No traders tracked here yet: /track them in chat." })));
    return;
  }
  for (const a of data.alerts) {
    const row = el("tr", { class: "row", "data-alert-id": a.id, "data-trader": a.trader },
      el("td", {}, el("span", { class: "score" + (a.score >= 80 ? " high" : ""), text: Math.round(a.score) })),
      el("td", {}, el("div", { text: a.action + " " + contract(a) + " @ " + price(a.entry_price) }),
        el("div", { class: "sub", text: "@" + a.trader + (a.structure ? " · " + a.structure : "") +
          (a.expiry ? " · exp " + shortDate(a.expiry) : "") })),
      el("td", { class: "num chance", text: a.chance === null ? "—" : pct(a.chance) }),
      el("td", { class: "num" }, shortDate(a.posted), el("div", { class: "sub", text: a.status === "closed" && a.pnl !== null ? money(a.pnl, true) : a.status })));
    row.addEventListener("click", () => toggleAnalyze(row, a.id));
    body.append(row);
    if (state.expanded === a.id) toggleAnalyze(row, a.id, true);
  }
}

function strategyBlock(title, line) {
  if (!line) return null;
  const legs = (line.legs || []).map((l) => [l.action, l.quantity ? l.quantity + "×" : "", l.kind === "stock" ? "shares" :
    "$" + l.strike + " " + String(l.kind).toUpperCase(), l.expiry ? shortDate(l.expiry) : "", l.price ? "@ " + price(l.price) : ""]
    .filter(Boolean).join(" "));
  return [el("h3", { text: title + ": " + line.name + (line.view ? " · " + line.view : "") }),
    legs.length ? el("p", { text: legs.join(" / ") }) : null,
    line.figures_known === false ? el("p", { text: "No entry price in the alert and no market quote for it: figures left out" }) :
    el("p", { text: "Max profit " + (line.max_profit === null ? "unlimited" : money(line.max_profit)) + " · max loss " +
      (line.max_loss === null ? "unlimited" : money(line.max_loss)) }),
    line.figures_known === false ? null : el("p", { text: (line.probability_of_profit === null ? "No probability of profit: not priced" : "Probability of profit (" + (line.pop_source || "option prices") + ") " + pct(line.probability_of_profit)) +
      (line.breakevens && line.breakevens.length ? " · breakeven " + line.breakevens.map(price).join(" / ") : "") +
      (line.capital_required !== null && line.capital_required !== undefined ? " · ties up " + money(line.capital_required) : "") }),
    (line.flags || []).length ? el("ul", {}, line.flags.map((f) => el("li", { text: "Warning: " + f }))) : null];
}

async function toggleAnalyze(row, id, keep) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("detail")) {
    if (keep) return;
    next.remove();
    row.classList.remove("open");
    state.expanded = null;
    return;
  }
  document.querySelectorAll("#alerts tr.detail").forEach((d) => { d.previousElementSibling.classList.remove("open"); d.remove(); });
  state.expanded = id;
  row.classList.add("open");
  const cell = el("td", { colspan: 4, text: "Loading the analysis…" });
  const detail = el("tr", { class: "detail", "data-detail-for": id }, cell);
  row.after(detail);
  try {
    const a = await api(chatPath("/alerts/" + id));
    const models = Object.entries(a.models || {});
    const similar = a.similar || {};
    cell.replaceChildren(...[
      el("p", { text: "Score " + Math.round(a.score) + "/100 · chance of profit " +
        (a.chance === null ? "not calibrated yet" : pct(a.chance)) + (a.recommendation ? " · " + a.recommendation : "") }),
      strategyBlock("Own trade", a.own) || el("p", { class: "sub", text: "The trader's own trade could not be judged." }),
      strategyBlock("Alternative, same view", a.alternative),
      el("h3", { text: "AI verdicts" }),
      models.length ? el("p", { text: models.map(([k, v]) => k[0].toUpperCase() + k.slice(1) + " " + Math.round(v)).join(", ") +
        (a.agreement !== null && a.agreement !== undefined ? " · agreement " + pct(a.agreement) : "") }) :
        el("p", { class: "sub", text: "No model verdicts recorded." }),
      (a.reasons || []).length ? el("ul", {}, a.reasons.map((r) => el("li", { text: r }))) : null,
      a.key_risk ? el("p", { text: "Key risk: " + a.key_risk }) : null,
      el("h3", { text: "Similar trades" + (similar.success_rate !== null && similar.success_rate !== undefined ?
        " · " + pct(similar.success_rate) + " profitable" : "") }),
      (similar.lines || []).length ? el("ul", {}, similar.lines.map((l) => el("li", { text: l }))) :
        el("p", { class: "sub", text: "No similar closed trades yet: the memory grows as trades close." })]
      .flat().filter(Boolean));
  } catch (error) {
    if (error instanceof Unauthorized) return fail(error);
    cell.textContent = error.message;
  }
}

// Positions

const SORTERS = {
  symbol: (p) => p.symbol + " " + p.trader, entry_price: (p) => p.entry_price ?? -Infinity,
  pnl: (p) => p.pnl ?? -Infinity, opened: (p) => (state.posStatus === "closed" ? p.closed : p.opened) || "",
};

async function loadPositions() {
  const data = await api(chatPath("/positions?status=" + state.posStatus));
  setStatus("");
  state.positions = data.positions;
  renderPositions();
}

function renderPositions() {
  const [key, dir] = state.posSort;
  const rows = [...state.positions].sort((a, b) => {
    const x = SORTERS[key](a), y = SORTERS[key](b);
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  document.querySelectorAll("#positions th").forEach((th) => {
    th.setAttribute("aria-sort", th.dataset.key === key ? (dir > 0 ? "ascending" : "descending") : "none");
  });
  const body = $("#positions tbody");
  body.replaceChildren();
  let guessed = false;
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No " + state.posStatus + " positions for the traders tracked here." })));
  for (const p of rows) {
    if (p.quantity === null && p.pnl !== null) guessed = true;
    const size = p.quantity === null ? "×1*" : "×" + p.quantity;
    const when = state.posStatus === "closed" ? "closed " + shortDate(p.closed) : "opened " + shortDate(p.opened);
    body.append(el("tr", { "data-position-id": p.id },
      el("td", {}, el("div", { text: p.action + " " + contract(p) + " " + size }),
        el("div", { class: "sub", text: "@" + p.trader + " · " + when + (p.expiry ? " · exp " + shortDate(p.expiry) : "") })),
      el("td", { class: "num" }, price(p.entry_price), el("div", { class: "sub", text: p.price === null ? "no price yet" : "→ " + price(p.price) })),
      el("td", { class: "num " + tone(p.pnl) }, p.pnl === null ? "—" : money(p.pnl, true),
        el("div", { class: "sub", text: p.pnl === null ? (state.posStatus === "open" ? "no market price" : "unknown") :
          signedPct(p.pnl_pct) + (state.posStatus === "open" ? " unrealised" : "") }))));
  }
  $("#pos-note").textContent = guessed ? "* No size was given: figures for one contract (or share)." : "";
}

// Traders

async function loadTraders() {
  const data = await api(chatPath("/traders"));
  setStatus("");
  const body = $("#traders tbody");
  body.replaceChildren();
  if (!data.traders.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No traders tracked here yet: /track them in chat." })));
  for (const t of data.traders) {
    const buttons = data.can_edit ? el("td", {}, el("div", { class: "buttons" },
      el("button", { class: "small secondary", "data-action": t.muted ? "unmute" : "mute", text: t.muted ? "Unmute" : "Mute",
        onclick: () => traderAction(t.trader, t.muted ? "unmute" : "mute") }),
      el("button", { class: "small danger", "data-action": "untrack", text: "Untrack",
        onclick: (e) => confirmThen(e.target, () => traderAction(t.trader, "untrack")) }))) : el("td");
    body.append(el("tr", { "data-trader": t.trader },
      el("td", {}, el("div", { text: "@" + t.trader }),
        el("div", { class: "sub", text: t.open + " open" + (t.muted ? " · muted here" : "") })),
      el("td", { class: "num" }, el("div", { class: tone(t.pnl), text: t.closed ? money(t.pnl, true) : "—" }),
        el("div", { class: "sub", text: t.closed ? pct(t.win_rate) + " won, " + t.wins + " of " + t.closed : "no closed trades" })),
      buttons));
  }
  $("#traders-note").textContent = data.can_edit ? "Records at the traders' own prices, all closed trades." :
    "Only this group's admins can mute or untrack traders.";
}

function confirmThen(button, action) {
  if (button.dataset.sure) return action();
  button.dataset.sure = "1";
  button.textContent = "Sure?";
  setTimeout(() => { delete button.dataset.sure; button.textContent = "Untrack"; }, 4000);
}

async function traderAction(name, action) {
  try {
    await api(chatPath("/traders/" + encodeURIComponent(name) + "/" + action), { method: "POST" });
    await loadTraders();
  } catch (error) { fail(error); }
}

// Analytics

function groupTable(title, rows) {
  return el("div", { class: "card" }, el("h3", { text: title }),
    rows.length ? el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, el("th", { text: "" }), el("th", { class: "num", text: "Trades" }),
        el("th", { class: "num", text: "Hit rate" }), el("th", { class: "num", text: "P&L" }))),
      el("tbody", {}, rows.map((r) => {
        const bar = el("span", { class: "bar" });
        bar.style.width = r.hit_rate === null ? "0" : Math.round(r.hit_rate * 100) + "%";
        return el("tr", {}, el("td", {}, r.label), el("td", { class: "num", text: r.trades }),
          el("td", { class: "num" }, pct(r.hit_rate), el("span", { class: "bar-bg" }, bar)),
          el("td", { class: "num " + tone(r.pnl), text: money(r.pnl, true) }));
      }))) : el("p", { class: "sub", text: "No closed, scored alerts yet." }));
}

function reliabilityChart(bins) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const W = 320, H = 240, L = 34, B = 28, T = 10, R = 10;
  const x = (v) => L + v * (W - L - R), y = (v) => H - B - v * (H - B - T);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Reliability chart" });
  chart.append(svg("line", { class: "axis", x1: L, y1: y(0), x2: x(1), y2: y(0) }),
    svg("line", { class: "axis", x1: L, y1: y(0), x2: L, y2: y(1) }),
    svg("line", { class: "diag", x1: x(0), y1: y(0), x2: x(1), y2: y(1) }));
  for (const t of [0, 0.5, 1]) {
    chart.append(svg("text", { x: x(t), y: H - 10, "text-anchor": "middle" }, Math.round(t * 100) + "%"),
      svg("text", { x: L - 4, y: y(t) + 4, "text-anchor": "end" }, Math.round(t * 100) + "%"));
  }
  const filled = bins.filter((b) => b.count && b.mean_predicted !== null && b.observed !== null);
  if (!filled.length) {
    chart.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No closed trades to measure yet"));
    return chart;
  }
  chart.append(svg("polyline", { class: "curve", points: filled.map((b) => x(b.mean_predicted) + "," + y(b.observed)).join(" ") }));
  for (const b of filled) {
    chart.append(svg("circle", { cx: x(b.mean_predicted), cy: y(b.observed), r: 4 }),
      svg("text", { x: x(b.mean_predicted), y: y(b.observed) - 8, "text-anchor": "middle" }, "n=" + b.count));
  }
  return chart;
}

async function loadAnalytics() {
  const data = await api(chatPath("/analytics"));
  setStatus("");
  $("#analytics").replaceChildren(
    el("p", { class: "hint", text: data.closed + " closed trades of scored alerts, the traders tracked here. Hit rate = won / (won + lost)." }),
    groupTable("By structure", data.structure), groupTable("By trader", data.trader),
    groupTable("By days to expiry at the alert", data.dte), groupTable("By chance of profit", data.chance));
  const box = $("#reliability");
  box.replaceChildren(el("p", { class: "sub", text: "Replaying every closed trade…" }));
  const rel = await api(chatPath("/reliability"));
  if (!rel.available) { box.replaceChildren(el("p", { class: "sub", text: "The backtest is not available in this deployment." })); return; }
  const rows = rel.thresholds.map((r) => el("tr", {}, el("td", { text: "≥ " + r.min_score }), el("td", { class: "num", text: r.notified }),
    el("td", { class: "num", text: r.notified ? pct(r.hit_rate) : "—" }),
    el("td", { class: "num", text: r.notified ? pct(r.hit_rate_low, 1) + "–" + pct(r.hit_rate_high, 1) : "—" })));
  box.replaceChildren(el("div", { class: "card" }, reliabilityChart(rel.reliability),
    el("p", { class: "sub", text: rel.trades + " closed trades (" + rel.calibrated_trades + " calibrated) · base rate " + pct(rel.base_rate) +
      " · Brier " + (rel.brier === null ? "n/a" : rel.brier.toFixed(3)) + " · ECE " + (rel.ece === null ? "n/a" : rel.ece.toFixed(3)) }),
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", { text: "Score" }), el("th", { class: "num", text: "Sent" }),
      el("th", { class: "num", text: "Won" }), el("th", { class: "num", text: "95% interval" }))), el("tbody", {}, rows)),
    el("p", { class: "sub", text: rel.advice !== null ? "Lowest threshold whose hit rate is at least 75% with 95% confidence: " + rel.advice :
      "No threshold reaches a 75% hit rate with 95% confidence yet." })));
}

// Settings

async function loadSettings() {
  const data = await api(chatPath("/settings"));
  setStatus("");
  const box = $("#settings");
  box.replaceChildren();
  for (const s of data.settings) box.append(settingCard(s, data.can_edit));
  $("#settings-note").textContent = data.can_edit ? "Changes apply at once, here and in /settings in chat." :
    "Only this group's admins can change its settings.";
}

function settingCard(s, canEdit) {
  const message = el("p", { class: "sub", "data-message": s.key });
  let control;
  if (s.kind === "int") {
    const input = el("input", { type: "number", name: s.key, min: s.low, max: s.high, value: s.value, inputmode: "numeric", disabled: !canEdit });
    const step = (d) => { input.value = Math.max(s.low, Math.min(s.high, Number(input.value || 0) + d)); };
    control = el("div", { class: "stepper" },
      el("button", { class: "small secondary", type: "button", text: "−", disabled: !canEdit, onclick: () => step(-1) }), input,
      el("button", { class: "small secondary", type: "button", text: "+", disabled: !canEdit, onclick: () => step(1) }));
    control.read = () => input.value.trim() === "" ? null : Number(input.value);
  } else if (s.kind === "choice") {
    const select = el("select", { name: s.key, disabled: !canEdit }, s.choices.map((c) => el("option", { value: c, text: c })));
    select.value = s.value;
    control = select;
    control.read = () => select.value;
  } else {
    const input = el("input", { type: "text", name: s.key, value: s.value ?? "", disabled: !canEdit });
    control = input;
    control.read = () => input.value;
  }
  const save = el("button", { class: "small", type: "button", "data-save": s.key, text: "Save", disabled: !canEdit,
    onclick: async () => {
      message.classList.remove("error");
      try {
        const result = await api(chatPath("/settings"), { method: "POST", body: { key: s.key, value: control.read() } });
        message.textContent = "Saved: " + result.setting.value;
      } catch (error) {
        if (error instanceof Unauthorized) return fail(error);
        message.textContent = error.message;
        message.classList.add("error");
      }
    } });
  const range = s.low !== null && s.high !== null ? " (" + s.low + "–" + s.high + ")" : "";
  return el("div", { class: "card" }, el("div", { class: "setting" },
    el("div", {}, el("h3", { text: s.label + range }), el("div", { class: "sub", text: s.help })),
    el("div", {}, control)), el("div", { class: "setting" }, message, save));
}

// --- start -------------------------------------------------------------------------------------------------

function onTelegramEvent(type, data) {  // what the client sends back: a theme change while the page is open
  if (type === "theme_changed" && data && data.theme_params) applyTheme(data.theme_params);
}

function listenToTelegram() {
  window.Telegram = window.Telegram || {};
  window.Telegram.WebView = window.Telegram.WebView || { receiveEvent: onTelegramEvent };
  window.TelegramGameProxy = window.TelegramGameProxy || { receiveEvent: onTelegramEvent };
  window.addEventListener("message", (event) => {
    try {
      const message = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
      if (message && message.eventType) onTelegramEvent(message.eventType, message.eventData);
    } catch (e) { /* not Telegram's */ }
  });
}

async function start() {
  const params = launchParams();
  applyTheme(params.theme, params.scheme);
  listenToTelegram();
  postEvent("web_app_ready");
  postEvent("web_app_request_theme");
  postEvent("web_app_expand");
  state.initData = params.initData;
  if (state.initData) sessionStorage.setItem("initData", state.initData);
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showPage(b.dataset.page)));
  const form = $("#filters");
  form.addEventListener("change", () => { state.expanded = null; loadAlerts().catch(fail); });
  form.addEventListener("submit", (e) => { e.preventDefault(); state.expanded = null; loadAlerts().catch(fail); });
  form.addEventListener("reset", () => setTimeout(() => loadAlerts().catch(fail), 0));
  document.querySelectorAll("#pos-status button").forEach((b) => b.addEventListener("click", () => {
    state.posStatus = b.dataset.status;
    document.querySelectorAll("#pos-status button").forEach((o) => o.classList.toggle("on", o === b));
    loadPositions().catch(fail);
  }));
  document.querySelectorAll("#positions th").forEach((th) => th.addEventListener("click", () => {
    const [key, dir] = state.posSort;
    state.posSort = [th.dataset.key, key === th.dataset.key ? -dir : -1];
    renderPositions();
  }));
  try {
    const me = await api("api/chats");
    state.chats = me.chats;
    if (!me.chats.length) {
      setStatus("No chats yet: send /start to the bot, or add it to a group, then open the dashboard again.");
      return;
    }
    const select = $("#chat");
    select.replaceChildren(...me.chats.map((c) => el("option", { value: c.id, text: c.title })));
    select.hidden = me.chats.length < 2;
    const wanted = new URLSearchParams(location.search).get("chat");
    state.chat = me.chats.find((c) => String(c.id) === wanted) || me.chats[0];
    select.value = String(state.chat.id);
    select.addEventListener("change", () => {
      state.chat = state.chats.find((c) => String(c.id) === select.value);
      state.expanded = null;
      state.lastAlerts = "";
      showPage(state.page);
    });
    const page = new URLSearchParams(location.search).get("page");
    showPage(["alerts", "positions", "traders", "analytics", "settings"].includes(page) ? page : "alerts");
  } catch (error) { fail(error); }
}

document.addEventListener("DOMContentLoaded", start);
