"use strict";
// care serve web page: no framework, no CDN; every transcript string goes in via textContent.
const T = {
  en: {}, // English is the page's own text
  zh: {
    tagline: "工作联盟评分与引用证据", language: "语言", token: "API 令牌", new: "新评估",
    paste: "粘贴会谈记录（care 支持的任何格式）", upload: "或上传文件", format: "格式",
    instrument: "量表", model: "模型", assess: "评估", dimensions: "维度得分",
    rationales: "理由", items: "条目", item: "条目", dimension: "维度", value: "分值", reason: "理由",
    transcript: "会谈记录", history: "历史", "model-default": "模型默认",
    working: "评估中…", done: "完成", evidence: "证据", turn: "第", empty: "请粘贴或上传会谈记录",
    higher: "高于", lower: "低于", reference: "的参考会谈", "no-intervals": "无预测区间",
    "interval-note": "预测区间：每条横杠上的色带是来访者本人评分预计所在的范围。",
    "out-of-domain": "警告：此会谈与模型的训练会谈差异较大，其得分和区间可能不可靠：",
  },
};
const EN = {
  working: "Assessing…", done: "Done", evidence: "Evidence", turn: "turn ",
  empty: "Paste or upload a transcript first",
  higher: "higher than", lower: "lower than", reference: "of reference sessions",
  "no-intervals": "No intervals",
  "interval-note": "prediction intervals: the band across each bar is where the client's own rating is expected to lie.",
  "out-of-domain": "Warning: this session is unlike the sessions the model was trained on, so its scores and intervals may not hold:",
};
let lang = localStorage.getItem("care-lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let instruments = {};
let current = null;
const $ = (id) => document.getElementById(id);
const t = (key) => (T[lang] && T[lang][key]) || EN[key] || key;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("ui-lang").value = lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => {
    if (!node.dataset.en) node.dataset.en = node.textContent;
    node.textContent = lang === "en" ? node.dataset.en : t(node.dataset.i18n);
  });
  if (current) render(current);
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("care-token");
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    // Every problem the server found, each with where it is and how to fix it.
    const lines = (body.problems || []).map((problem) =>
      [problem.record, problem.field].filter(Boolean).join(", ") +
      (problem.record || problem.field ? ": " : "") + problem.message +
      (problem.fix ? " (" + problem.fix + ")" : ""));
    const error = new Error(lines.length ? lines.join("\n") : body.error);
    error.lines = lines.length ? lines : [body.error];
    throw error;
  }
  return body;
}

function status(text, error) {
  const lines = error && error.lines ? error.lines : [String(text)];
  if (lines.length > 1) {
    $("status").replaceChildren(el("ul", {}, ...lines.map((line) => el("li", {}, line))));
  } else {
    $("status").textContent = lines[0];
  }
  $("status").className = error ? "error" : "";
}

async function loadFormats() {
  const formats = await api("/v1/formats");
  $("format").replaceChildren(el("option", { value: "auto" }, "auto"),
    ...formats.map((f) => el("option", { value: f.id, title: f.description }, f.id)));
}

async function loadChoices() {
  const [models, insts] = await Promise.all([api("/v1/models"), api("/v1/instruments")]);
  $("model").replaceChildren(...models.map((m) =>
    el("option", { value: m.id, selected: m.default ? "" : null }, m.id)));
  for (const inst of insts) {
    instruments[inst.id] = inst;
    $("instrument").append(el("option", { value: inst.id }, inst.name));
  }
}

async function loadHistory() {
  const history = await api("/v1/assessments?limit=50");
  $("history").replaceChildren(...history.assessments.map((a) => {
    const when = new Date(a.created_at * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en");
    const total = a.total === null ? "–" : a.total.toFixed(2);
    return el("li", {}, el("a", { href: "?a=" + a.id, "data-id": a.id },
      `${a.session_id} · ${a.instrument} · ${a.model} · ${total} · ${when}`));
  }));
}

async function show(id, push) {
  const assessment = await api("/v1/assessments/" + encodeURIComponent(id));
  current = assessment;
  render(assessment);
  if (push) history.pushState({ id }, "", "?a=" + id);
}

// The share of reference sessions a score is above, in words ("higher than 64% of ...").
function percentileText(share) {
  if (share === undefined || share === null) return "";
  return share >= 50 ? t("higher") + " " + Math.round(share) + "% " + t("reference")
    : t("lower") + " " + Math.round(100 - share) + "% " + t("reference");
}

function chart(dimensions, scale, intervals, percentiles) {
  const svg = $("chart");
  const names = Object.keys(dimensions);
  const width = 620, bar = 26, left = 70, height = names.length * (bar + 8) + 24;
  const x = (v) => left + 230 * (v - scale.min) / (scale.max - scale.min);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  svg.replaceChildren();
  names.forEach((name, i) => {
    const value = dimensions[name];
    const share = value === null ? 0 : (value - scale.min) / (scale.max - scale.min);
    const y = i * (bar + 8) + 4;
    svg.append(make("text", { x: 0, y: y + 18 }, name));
    svg.append(make("rect", { x: left, y, width: 230, height: bar, fill: "#e5e9ef" }));
    svg.append(make("rect", { x: left, y, width: Math.max(0, 230 * share), height: bar, fill: "#3a77c4", class: "bar" }));
    const band = intervals && intervals[name];
    let label = value === null ? "–" : value.toFixed(2);
    if (Array.isArray(band)) {
      // the prediction interval as a band across the bar, with whiskers at its ends
      svg.append(make("rect", { x: x(band[0]), y: y + 9, width: Math.max(1, x(band[1]) - x(band[0])),
        height: 8, fill: "#1d232a", "fill-opacity": 0.35, class: "interval" }));
      svg.append(make("line", { x1: x(band[0]), x2: x(band[0]), y1: y + 4, y2: y + bar - 4, stroke: "#1d232a" }));
      svg.append(make("line", { x1: x(band[1]), x2: x(band[1]), y1: y + 4, y2: y + bar - 4, stroke: "#1d232a" }));
      label += ` [${band[0].toFixed(2)}, ${band[1].toFixed(2)}]`;
    }
    svg.append(make("text", { x: left + 238, y: y + 12 }, label));
    const rank = percentiles && percentiles[name];
    if (rank !== undefined && rank !== null) {
      svg.append(make("text", { x: left + 238, y: y + 25, class: "percentile", "font-size": "11" }, percentileText(rank)));
    }
  });
  svg.setAttribute("aria-label", names.map((n) => `${n} ${dimensions[n]}`).join(", "));
}

function render(assessment) {
  const result = assessment.result;
  const inst = instruments[result.instrument] || { items: [], scale: { min: 0, max: 5 } };
  $("result").hidden = false;
  $("result-h").textContent = `${assessment.session_id} — ${result.instrument} (${result.model})`;
  chart(result.dimensions || {}, inst.scale, result.intervals, result.percentiles);
  const intervals = result.intervals || {};
  $("interval-note").textContent = intervals.unavailable ? t("no-intervals") + ": " + intervals.unavailable
    : intervals.level ? Math.round(intervals.level * 100) + "% " + t("interval-note") : "";
  const domain = result.domain || {};
  $("domain").hidden = domain.in_domain !== false;
  $("domain").textContent = domain.in_domain === false
    ? t("out-of-domain") + " " + (domain.reasons || []).join("; ") : "";
  const byTurn = {};
  const rationales = [];
  for (const [dim, pieces] of Object.entries(result.evidence || {})) {
    const links = el("span", {}, t("evidence") + ": ");
    pieces.forEach((piece, k) => {
      (byTurn[piece.turn_index] = byTurn[piece.turn_index] || []).push({ ...piece, dim, id: `ev-${dim}-${k}` });
      links.append(el("a", { href: `#ev-${dim}-${k}` }, `#${piece.turn_index}`), " ");
    });
    rationales.push(el("div", { class: "rationale", id: "rat-" + dim, tabindex: "-1" },
      el("strong", {}, dim + ": "), result.rationales[dim] || "", el("br"), links));
  }
  $("rationales").replaceChildren(...rationales);
  // a language model explains each item, with quotes: they are marked in the transcript too
  for (const [id, item] of Object.entries(result.items)) {
    (item.evidence || []).forEach((piece, k) => {
      (byTurn[piece.turn_index] = byTurn[piece.turn_index] || []).push({ ...piece, dim: id, id: `ev-item-${id}-${k}`, target: "rat-item-" + id });
    });
  }
  const texts = Object.fromEntries(inst.items.map((i) => [i.id, [i.text[lang] || i.text.en || i.id, i.dimension]]));
  $("items").tBodies[0].replaceChildren(...Object.entries(result.items).map(([id, item]) =>
    el("tr", { id: "rat-item-" + id, tabindex: "-1" }, el("td", {}, (texts[id] || [id])[0]),
      el("td", {}, (texts[id] || [])[1] || ""),
      el("td", { class: "num" }, item.value === null || item.value === undefined ? "–" : String(item.value)),
      el("td", {}, item.rationale || item.error || ""))));
  $("turns").replaceChildren(...assessment.turns.map((turn) => {
    const li = el("li", { id: "turn-" + turn.index, class: turn.role, value: turn.index });
    li.append(el("span", { class: "role" }, turn.speaker || turn.role));
    let text = turn.text;
    const marks = [];
    for (const piece of byTurn[turn.index] || []) {
      const at = text.indexOf(piece.quote);
      if (at >= 0) marks.push({ at, end: at + piece.quote.length, piece });
    }
    marks.sort((a, b) => a.at - b.at);
    let pos = 0;
    for (const m of marks) {
      if (m.at < pos) continue;
      li.append(text.slice(pos, m.at));
      const down = (m.piece.contribution || 0) < 0;
      li.append(el("mark", { id: m.piece.id, class: down ? "down" : "up", title: m.piece.dim },
        el("a", { href: "#" + (m.piece.target || "rat-" + m.piece.dim) }, text.slice(m.at, m.end))));
      pos = m.end;
    }
    li.append(text.slice(pos));
    return li;
  }));
}

function download(name, type, text) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function csv(assessment) {
  const quote = (v) => `"${String(v ?? "").replace(/"/g, '""')}"`;
  const rows = [["session_id", "instrument", "model", "kind", "id", "value"]];
  const r = assessment.result;
  for (const [id, item] of Object.entries(r.items)) rows.push([assessment.session_id, r.instrument, r.model, "item", id, item.value]);
  for (const [id, value] of Object.entries(r.dimensions || {})) rows.push([assessment.session_id, r.instrument, r.model, "dimension", id, value]);
  return rows.map((row) => row.map(quote).join(",")).join("\r\n") + "\r\n";
}

async function submit(event) {
  event.preventDefault();
  const text = $("transcript").value;
  if (!text.trim()) return status(t("empty"), true);
  const body = { session: { text, format: $("format").value } };
  if ($("instrument").value) body.instrument = $("instrument").value;
  if ($("model").value) body.model = $("model").value;
  status(t("working"));
  $("submit").disabled = true;
  try {
    const made = await api("/v1/assessments", { method: "POST", body: JSON.stringify(body) });
    current = made;
    render(made);
    history.pushState({ id: made.id }, "", "?a=" + made.id);
    status(t("done"));
    await loadHistory();
    $("result-h").focus();
  } catch (error) {
    status(error.message, error);
  } finally {
    $("submit").disabled = false;
  }
}

async function start() {
  $("result-h").tabIndex = -1;
  $("token").value = sessionStorage.getItem("care-token") || "";
  $("token").addEventListener("change", () => { sessionStorage.setItem("care-token", $("token").value); start(); });
  $("ui-lang").onchange = () => { lang = $("ui-lang").value; localStorage.setItem("care-lang", lang); applyLanguage(); };
  $("form").onsubmit = submit;
  $("file").onchange = async () => {
    const file = $("file").files[0];
    if (file) $("transcript").value = await file.text();
  };
  $("dl-json").onclick = () => current && download(current.session_id + ".json", "application/json", JSON.stringify(current.result, null, 2));
  $("dl-csv").onclick = () => current && download(current.session_id + ".csv", "text/csv", csv(current));
  $("history").onclick = (event) => {
    const link = event.target.closest("a[data-id]");
    if (link) { event.preventDefault(); show(link.dataset.id, true).catch((e) => status(e.message, true)); }
  };
  window.onpopstate = () => { const id = new URLSearchParams(location.search).get("a"); if (id) show(id, false); };
  applyLanguage();
  try {
    if (!$("model").options.length) await Promise.all([loadChoices(), loadFormats()]);
    await loadHistory();
    const id = new URLSearchParams(location.search).get("a");
    if (id) await show(id, false);
    document.body.dataset.ready = "1";
  } catch (error) {
    status(error.message, error);
  }
}

document.addEventListener("DOMContentLoaded", start);
