"use strict";
// care rationales review: one draft at a time; each decision is POSTed at once.
const $ = (id) => document.getElementById(id);
const state = { drafts: [], sessions: {}, index: 0, editing: false };

function headers() {
  const h = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("care-token");
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

function say(text, error) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function keyOf(d) {
  return [d.session_id, d.instrument, d.item_id, d.teacher, d.prompt_version].join("\u0000");
}

function renderList() {
  const list = $("list");
  list.replaceChildren();
  state.drafts.forEach((d, i) => {
    const li = el("li", d.session_id + " · " + d.item_id);
    li.dataset.decision = d.review ? d.review.decision : "";
    if (i === state.index) li.className = "current";
    li.title = d.teacher + " / " + d.prompt_version;
    li.addEventListener("click", () => go(i));
    list.appendChild(li);
  });
  const done = state.drafts.filter((d) => d.review).length;
  $("progress").textContent = done + " / " + state.drafts.length + " decided";
}

function turnNode(turn, quotes) {
  const li = el("li", undefined, turn.role);
  li.value = turn.index + 1;
  li.id = "turn-" + turn.index;
  li.appendChild(el("span", turn.role, "role"));
  const mine = quotes.filter((q) => q.turn === turn.index);
  if (mine.length) li.classList.add("cited");
  // Mark the quote where it appears verbatim; the turn is highlighted either way.
  let parts = [turn.text];
  for (const q of mine) {
    const next = [];
    for (const part of parts) {
      if (typeof part !== "string") { next.push(part); continue; }
      const at = part.indexOf(q.quote);
      if (at < 0) { next.push(part); continue; }
      next.push(part.slice(0, at), { mark: q.quote }, part.slice(at + q.quote.length));
    }
    parts = next;
  }
  for (const part of parts) {
    li.appendChild(typeof part === "string" ? document.createTextNode(part) : el("mark", part.mark));
  }
  return li;
}

function describe(review) {
  if (!review) return "Not decided yet.";
  const when = new Date(review.created_at * 1000).toLocaleString();
  const verb = { accept: "Accepted", edit: "Edited", reject: "Rejected" }[review.decision];
  return verb + " by " + review.reviewer + " at " + when + ".";
}

function render() {
  renderList();
  const d = state.drafts[state.index];
  if (!d) { $("where").textContent = "No drafts to review."; return; }
  $("where").textContent = d.session_id + " · " + d.instrument + " · " + d.item_id +
    " · " + d.teacher + " · " + d.prompt_version;
  $("item").textContent = d.item_text || d.item_id;
  $("rating").textContent = String(d.rating);
  const shown = d.review && d.review.decision === "edit" ? d.review.text : d.rationale;
  $("draft").textContent = shown || "";
  $("draft").dataset.edited = d.review && d.review.decision === "edit" ? "1" : "";
  $("decision").textContent = describe(d.review);
  $("decision").dataset.decision = d.review ? d.review.decision : "";
  const turns = $("turns");
  turns.replaceChildren();
  const session = state.sessions[d.session_id];
  if (session) {
    for (const turn of session.turns) turns.appendChild(turnNode(turn, d.quotes));
    const first = d.quotes.find((q) => q.turn !== null);
    if (first) $("turn-" + first.turn).scrollIntoView({ block: "center" });
  } else {
    turns.appendChild(el("li", "This session is not in the --data files."));
  }
  closeEditor();
}

function go(i) {
  if (i < 0 || i >= state.drafts.length) return;
  state.index = i;
  render();
}

function reviewer() {
  const name = $("reviewer").value.trim();
  if (!name) {
    say("Enter your name first (kept in this browser).", true);
    $("reviewer").focus();
  }
  return name;
}

async function decide(decision, text) {
  const d = state.drafts[state.index];
  const name = reviewer();
  if (!d || !name) return false;
  const body = {
    session_id: d.session_id, instrument: d.instrument, item_id: d.item_id,
    teacher: d.teacher, prompt_version: d.prompt_version, reviewer: name, decision,
  };
  if (decision === "edit") body.text = text;
  say("Saving…");
  try {
    const response = await fetch("/api/reviews", {
      method: "POST", headers: headers(), body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) { say("Not saved: " + (answer.error || response.status), true); return false; }
    const same = state.drafts.find((x) => keyOf(x) === keyOf(d));
    same.review = answer;
    say("Saved: " + describe(answer));
    render();
    return true;
  } catch (error) {
    say("Not saved (is the server running?): " + error, true);
    return false;
  }
}

function openEditor() {
  const d = state.drafts[state.index];
  if (!d || !reviewer()) return;
  state.editing = true;
  $("editor").hidden = false;
  $("edit-text").value = $("draft").textContent;
  $("edit-text").focus();
}

function closeEditor() {
  state.editing = false;
  $("editor").hidden = true;
}

async function saveEdit() {
  const text = $("edit-text").value;
  if (!text.trim()) { say("The edited rationale is empty; reject instead?", true); return; }
  await decide("edit", text);
}

function onKey(event) {
  const target = event.target;
  if (state.editing && target === $("edit-text")) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      saveEdit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeEditor();
    }
    return;
  }
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    a: () => decide("accept"), e: openEditor, r: () => decide("reject"),
    j: () => go(state.index + 1), n: () => go(state.index + 1),
    k: () => go(state.index - 1), p: () => go(state.index - 1),
  };
  const action = actions[event.key];
  if (action) { event.preventDefault(); action(); }
}

async function load() {
  try {
    const response = await fetch("/api/drafts", { headers: headers() });
    const answer = await response.json();
    if (!response.ok) { say("Cannot load the drafts: " + (answer.error || response.status), true); return; }
    state.drafts = answer.drafts;
    state.sessions = answer.sessions;
    const open = state.drafts.findIndex((d) => !d.review);
    state.index = open >= 0 ? open : 0;
    render();
    document.body.dataset.ready = "1";
  } catch (error) {
    say("Cannot reach the server: " + error, true);
  }
}

function start() {
  $("reviewer").value = localStorage.getItem("care-reviewer") || "";
  $("reviewer").addEventListener("change", () => {
    localStorage.setItem("care-reviewer", $("reviewer").value.trim());
  });
  $("token").value = sessionStorage.getItem("care-token") || "";
  $("token").addEventListener("change", () => {
    sessionStorage.setItem("care-token", $("token").value);
    load();
  });
  $("accept").addEventListener("click", () => decide("accept"));
  $("reject").addEventListener("click", () => decide("reject"));
  $("edit").addEventListener("click", openEditor);
  $("save-edit").addEventListener("click", saveEdit);
  $("cancel-edit").addEventListener("click", closeEditor);
  $("prev").addEventListener("click", () => go(state.index - 1));
  $("next").addEventListener("click", () => go(state.index + 1));
  document.addEventListener("keydown", onKey);
  load();
}

start();
