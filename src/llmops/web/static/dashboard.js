// llmops dashboard: plain JavaScript (fetch, EventSource), no library. Actions go to the engine's JSON
// API with the page's CSRF token; live updates come from /ui/stream and replace only the parts of the
// page marked data-live (dialogs and what a person types are never replaced).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

async function api(method, url, body) {
  const headers = { "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (err) {
    return { ok: false, status: 0, data: null, message: "the engine does not answer (" + err.message + ")" };
  }
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  const err = data && data.error;
  const message = err ? err.message + (err.hint ? " (hint: " + err.hint + ")" : "") : response.statusText;
  return { ok: response.ok, status: response.status, data, message };
}

function notice(text, kind = "") {
  const box = $("#notice");
  box.textContent = text;
  box.className = "notice " + kind;
  box.hidden = false;
}

// -- live updates --------------------------------------------------------------------------------

let refreshTimer = null;
let refreshing = false;

function scheduleRefresh(delay = 250) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, delay);
}

async function refresh() {
  if (refreshing) { scheduleRefresh(500); return; }
  refreshing = true;
  try {
    const response = await fetch(location.pathname + location.search, { credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const fresh of $$("[data-live]", doc)) {
      const current = document.getElementById(fresh.id);
      if (current && current.innerHTML !== fresh.innerHTML) swap(current, fresh);
    }
  } catch (_) {
    // the next event or the periodic refresh tries again
  } finally {
    refreshing = false;
  }
}

function swap(current, fresh) {
  const open = new Set($$("details[open]", current).map((d) => d.id).filter(Boolean));
  const loaded = new Map($$("details[id] pre[data-loaded='true']", current).map((p) => [p.closest("details").id, p.textContent]));
  const focused = document.activeElement && current.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused ? focusKeyOf(focused) : null;
  current.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
  for (const id of open) {
    const details = document.getElementById(id);
    if (!details) continue;
    details.open = true;
    const pre = $("pre", details);
    if (loaded.has(id) && pre) { pre.textContent = loaded.get(id); pre.dataset.loaded = "true"; }
    else loadDetails(details);
  }
  if (focusKey) {
    const again = $(focusKey, current);
    if (again) again.focus({ preventScroll: true });
  }
}

function focusKeyOf(el) {
  if (el.id) return "#" + CSS.escape(el.id);
  if (el.dataset.action) {
    const parts = ["[data-action='" + el.dataset.action + "']"];
    for (const key of ["app", "id", "ref"]) if (el.dataset[key]) parts.push("[data-" + key + "='" + CSS.escape(el.dataset[key]) + "']");
    return parts.join("");
  }
  return null;
}

function startStream() {
  const url = document.body.dataset.stream;
  if (!url || !window.EventSource) return;
  const state = $("#live-state");
  const source = new EventSource(url);
  source.addEventListener("open", () => { state.textContent = "live"; state.classList.remove("offline"); });
  source.addEventListener("change", () => scheduleRefresh());
  source.addEventListener("error", () => { state.textContent = "reconnecting…"; state.classList.add("offline"); });
  // Health that changes without an event (a process becoming ready between two events) shows up too.
  setInterval(() => { if (document.visibilityState === "visible") scheduleRefresh(0); }, 10000);
}

// -- details loaded on demand (manifests, logs) ------------------------------------------------------

const app = () => document.body.dataset.app;
const logTimers = new Map();

async function loadDetails(details) {
  const src = details.dataset.src || details.dataset.log;
  const pre = $("pre", details);
  if (!src || !pre || !app()) return;
  const response = await fetch("/ui/apps/" + encodeURIComponent(app()) + "/" + src, { credentials: "same-origin" });
  const text = await response.text();
  let shown = text;
  if (!response.ok) {
    try { shown = JSON.parse(text).error.message; } catch (_) { /* plain text */ }
  }
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = shown;
  pre.dataset.loaded = "true";
  if (details.dataset.log && atBottom) pre.scrollTop = pre.scrollHeight;
}

document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement)) return;
  if (details.open) {
    loadDetails(details);
    if (details.dataset.log === "logs" && !logTimers.has(details.id)) {
      logTimers.set(details.id, setInterval(() => {
        if (details.isConnected && details.open && document.visibilityState === "visible") loadDetails(details);
      }, 3000));
    }
  } else if (logTimers.has(details.id)) {
    clearInterval(logTimers.get(details.id));
    logTimers.delete(details.id);
  }
}, true);

// -- operations: sync, rollback, refresh, patch ----------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function follow(op, show) {
  show(op.kind + " #" + op.id + ": " + op.phase + (op.message ? " — " + op.message : ""), "");
  while (op.phase === "Running") {
    await sleep(700);
    const next = await api("GET", "/api/v1/operations/" + op.id);
    if (!next.ok) { show("cannot follow operation " + op.id + ": " + next.message, "error"); return; }
    op = next.data;
    show(op.kind + " #" + op.id + ": " + op.phase + (op.message ? " — " + op.message : ""), "");
  }
  show(op.kind + " #" + op.id + " " + op.phase + ": " + (op.message || ""), op.phase === "Succeeded" ? "ok" : "error");
  scheduleRefresh(0);
}

const dialog = {
  el: () => $("#confirm-dialog"),
  result(text, kind) {
    const box = $("#confirm-result");
    box.textContent = text;
    box.className = "result " + (kind || "");
  },
  open({ title, text, ok, prune, run }) {
    const el = this.el();
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    $("#confirm-reason").value = "";
    $("#confirm-prune").checked = false;
    $("#confirm-prune-row").hidden = !prune;
    $("#confirm-ok").textContent = ok;
    $("#confirm-ok").disabled = false;
    $("#confirm-ok").hidden = false;
    $("#confirm-cancel").textContent = "Cancel";
    this.result("", "");
    this.run = run;
    el.showModal();
    $("#confirm-reason").focus();
  },
};

async function confirmed() {
  const run = dialog.run;
  if (!run) return;
  dialog.run = null;
  $("#confirm-ok").disabled = true;
  $("#confirm-cancel").textContent = "Close";
  dialog.result("sending…", "");
  const reason = $("#confirm-reason").value.trim() || null;
  const answer = await run(reason, $("#confirm-prune").checked);
  if (!answer.ok) { dialog.result("refused: " + answer.message, "error"); return; }
  $("#confirm-ok").hidden = true;
  await follow(answer.data, (text, kind) => dialog.result(text, kind));
}

function syncApp(button) {
  const name = button.dataset.app;
  const post = (reason, prune) => api("POST", "/api/v1/applications/" + encodeURIComponent(name) + "/sync",
    prune ? { reason, prune: true } : { reason });
  if (button.dataset.manual === "true") {
    const target = button.dataset.target ? " (" + button.dataset.target + ")" : "";
    dialog.open({
      title: "Sync " + name + "?",
      text: name + " waits for a person: syncing applies its target revision" + target + " now.",
      ok: "Synchronize", prune: true, run: post,
    });
    return;
  }
  (async () => {
    notice("syncing " + name + "…");
    const answer = await post(null, false);
    if (!answer.ok) { notice("sync of " + name + " refused: " + answer.message, "error"); return; }
    await follow(answer.data, notice);
  })();
}

function rollbackApp(button) {
  const name = button.dataset.app;
  const id = Number(button.dataset.id);
  const post = (reason) => api("POST", "/api/v1/applications/" + encodeURIComponent(name) + "/rollback", { id, reason });
  if (button.getAttribute("aria-disabled") === "true") {
    // The engine says why (it refuses rollback of an automated Application, as Argo CD does).
    (async () => {
      const answer = await post(null);
      notice(answer.ok ? "rollback started" : "rollback refused: " + answer.message, answer.ok ? "" : "error");
    })();
    return;
  }
  dialog.open({
    title: "Roll back " + name + "?",
    text: "Redeploy history entry #" + id + " (" + button.dataset.revision + "). Automated sync stays off; the app shows OutOfSync while Git says otherwise.",
    ok: "Roll back", prune: false, run: post,
  });
}

async function refreshApp(button) {
  const answer = await api("POST", "/api/v1/refresh", { selector: button.dataset.app, hard: true });
  notice(answer.ok ? "refreshed " + button.dataset.app : "refresh refused: " + answer.message, answer.ok ? "ok" : "error");
  scheduleRefresh(300);
}

function openPatch(button) {
  $("#patch-ref").textContent = button.dataset.ref;
  $("#patch-result").textContent = "";
  $("#patch-dialog").showModal();
  $("#patch-text").focus();
}

async function applyPatch() {
  const ref = $("#patch-ref").textContent;
  const body = { ref, type: $("#patch-type").value, patch: $("#patch-text").value };
  const answer = await api("POST", "/api/v1/applications/" + encodeURIComponent(app()) + "/patch", body);
  const box = $("#patch-result");
  box.textContent = answer.ok ? "patched " + ref + ": the engine compares it with Git now" : "refused: " + answer.message;
  box.className = "result " + (answer.ok ? "ok" : "error");
  scheduleRefresh(300);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  if (action === "sync") syncApp(button);
  else if (action === "rollback") rollbackApp(button);
  else if (action === "refresh") refreshApp(button);
  else if (action === "patch") openPatch(button);
});

// -- playground ----------------------------------------------------------------------------------------

const conversation = [];

function setModels() {
  const option = $("#chat-env").selectedOptions[0];
  const models = (option.dataset.models || "").split(",").filter(Boolean);
  $("#chat-model").replaceChildren(...models.map((m) => new Option(m, m)));
  $("#chat-endpoint").textContent = option.dataset.endpoint || "";
}

function addMessage(who, text, cls = "") {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who + ":";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.append(label, body);
  $("#chat-log").append(div);
  return body;
}

function metric(id, text) { $(id).textContent = text; }

async function sendChat(event) {
  event.preventDefault();
  const prompt = $("#chat-prompt").value.trim();
  if (!prompt) return;
  const model = $("#chat-model").value;
  conversation.push({ role: "user", content: prompt });
  addMessage("you", prompt);
  const out = addMessage(model || "model", "", "assistant");
  $("#chat-prompt").value = "";
  for (const id of ["#m-ttft", "#m-rate", "#m-tokens", "#m-model", "#m-finish"]) metric(id, "…");
  const controller = new AbortController();
  $("#chat-send").disabled = true;
  $("#chat-stop").disabled = false;
  $("#chat-stop").onclick = () => controller.abort();
  const started = performance.now();
  let first = null, tokens = null, finish = null, served = null, text = "";
  try {
    const response = await fetch("/ui/playground/chat", {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ environment: $("#chat-env").value, model, messages: conversation, max_tokens: Number($("#chat-max").value) || 64 }),
    });
    if (!response.ok) {
      let message = response.statusText;
      try { message = (await response.json()).error.message; } catch (_) { /* keep statusText */ }
      throw new Error(message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (!line.startsWith("data:")) continue;
        const payload = line.slice(5).trim();
        if (payload === "[DONE]") continue;
        const chunk = JSON.parse(payload);
        if (chunk.error) throw new Error(chunk.error.message || String(chunk.error));
        served = chunk.model || served;
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
        for (const choice of chunk.choices || []) {
          const piece = (choice.delta && choice.delta.content) || "";
          if (piece && first === null) { first = performance.now(); metric("#m-ttft", Math.round(first - started) + " ms"); }
          text += piece;
          out.textContent = text;
          finish = choice.finish_reason || finish;
        }
        if (served) metric("#m-model", served);
      }
      $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
    }
    const seconds = (performance.now() - started) / 1000;
    conversation.push({ role: "assistant", content: text });
    metric("#m-ttft", first === null ? "no token" : Math.round(first - started) + " ms");
    metric("#m-tokens", tokens === null ? "?" : String(tokens));
    metric("#m-rate", tokens ? (tokens / seconds).toFixed(1) + " tokens/s" : "?");
    metric("#m-model", served || "?");
    metric("#m-finish", finish || "?");
  } catch (err) {
    conversation.pop();
    out.parentElement.classList.add("error");
    out.textContent = err.name === "AbortError" ? text + " [stopped]" : "error: " + err.message;
    for (const id of ["#m-ttft", "#m-rate", "#m-tokens", "#m-model", "#m-finish"]) if ($(id).textContent === "…") metric(id, "–");
  } finally {
    $("#chat-send").disabled = false;
    $("#chat-stop").disabled = true;
  }
}

async function runSmoke() {
  const box = $("#smoke-result");
  box.textContent = "running llmops smoke against " + $("#chat-env").value + "…";
  $("#smoke-run").disabled = true;
  const answer = await api("POST", "/ui/playground/smoke", { environment: $("#chat-env").value, model: $("#chat-model").value || null });
  $("#smoke-run").disabled = false;
  if (!answer.ok) { box.textContent = "could not run: " + answer.message; return; }
  const report = answer.data;
  const table = document.createElement("table");
  table.className = "smoke";
  table.innerHTML = "<caption>" + (report.passed ? "passed" : "FAILED") + " in " + report.wall_s.toFixed(2) + " s</caption><thead><tr><th scope='col'>Check</th><th scope='col'>Result</th><th scope='col'>Detail</th></tr></thead>";
  const tbody = document.createElement("tbody");
  for (const check of report.checks) {
    const row = tbody.insertRow();
    row.dataset.check = check.id;
    row.insertCell().textContent = check.id;
    const result = row.insertCell();
    result.textContent = check.status.toUpperCase();
    result.className = check.status;
    row.insertCell().textContent = check.detail + (check.hint && check.status === "fail" ? " (hint: " + check.hint + ")" : "");
  }
  table.append(tbody);
  box.replaceChildren(table);
}

function startPlayground() {
  if (!$("#chat-form")) return;
  $("#chat-env").addEventListener("change", setModels);
  $("#chat-form").addEventListener("submit", sendChat);
  $("#chat-clear").addEventListener("click", () => { conversation.length = 0; $("#chat-log").replaceChildren(); });
  $("#smoke-run").addEventListener("click", runSmoke);
  $("#chat-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#chat-form").requestSubmit();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#confirm-ok").addEventListener("click", confirmed);
  $("#confirm-form").addEventListener("submit", (e) => {
    if (e.submitter && e.submitter.id !== "confirm-cancel") { e.preventDefault(); confirmed(); }
  });
  $("#confirm-reason").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); confirmed(); } });
  $("#patch-ok").addEventListener("click", applyPatch);
  startStream();
  startPlayground();
});
