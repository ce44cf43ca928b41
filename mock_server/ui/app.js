// bfl-mock dashboard: plain JavaScript, no build step, no third-party code. Every read and every change goes
// through the admin API under /_mock/ (the same calls a script makes); text from requests is only ever set
// with textContent, never parsed as HTML.
"use strict";

const API = "/_mock";
const REFRESH_MS = 1000;
let timer = null;
let page = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class SignInNeeded extends Error {}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { accept: "application/json" }, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { ...init.headers, "content-type": "application/json" };
    init.body = JSON.stringify(options.json);
    delete init.json;
  }
  const r = await fetch(API + path, init);
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (r.status === 403 && body && typeof body.detail === "string" && body.detail.includes("token")) {
    throw new SignInNeeded(body.detail);
  }
  if (!r.ok) throw new Error(`${r.status}: ${body && body.detail ? JSON.stringify(body.detail) : text}`);
  return body;
}

const when = (t) => (t === null || t === undefined ? "" : new Date(t * 1000).toISOString().replace("T", " ").replace("Z", ""));
const badge = (s) => h("span", { class: `badge ${String(s).replace(/ /g, "-")}` }, s);
const short = (id) => String(id).slice(0, 8);
const taskLink = (id) => h("a", { href: `#/task/${encodeURIComponent(id)}`, class: "mono" }, short(id));

function notice(text, cls = "notice") {
  return h("div", { class: cls }, text);
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

async function refreshClock() {
  try {
    const c = await api("/clock");
    document.getElementById("clock").textContent = `${when(c.now)}${c.frozen ? " (frozen)" : ""}`;
  } catch (e) { /* shown by the page */ }
}

// ------------------------------------------------------------------------------------------------ tasks
const filters = { status: "", endpoint: "", key: "" };

async function tasksPage() {
  const data = await api("/tasks?brief=1&order=newest&limit=1000");
  const tasks = data.tasks;
  const endpoints = [...new Set(tasks.map((t) => t.endpoint))].sort();
  const statuses = ["Pending", "Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"];
  const select = (name, values) =>
    h("select", { name, onchange: (e) => { filters[name] = e.target.value; render(); } },
      h("option", { value: "" }, `any ${name}`),
      values.map((v) => h("option", { value: v, selected: filters[name] === v }, v)));
  const keyInput = h("input", { name: "key", placeholder: "key fingerprint", value: filters.key, size: 18 });
  keyInput.addEventListener("change", (e) => { filters.key = e.target.value.trim(); render(); });
  const shown = tasks.filter((t) =>
    (!filters.status || t.status === filters.status) &&
    (!filters.endpoint || t.endpoint === filters.endpoint) &&
    (!filters.key || (t.key_id || "").startsWith(filters.key) || (t.api_key || "").startsWith(filters.key)));
  const rows = shown.map((t) =>
    h("tr", { "data-task": t.id, "data-status": t.status },
      h("td", { class: "mono" }, when(t.created_at)),
      h("td", {}, taskLink(t.id)),
      h("td", {}, t.endpoint),
      h("td", {}, badge(t.status), t.progress !== null ? h("progress", { value: t.progress, max: 1 }) : null),
      h("td", { class: "mono", title: t.api_key || "" }, t.key_id || ""),
      h("td", { class: "mono" }, when(t.finished_at)),
      h("td", {}, t.rule ? `rule ${t.rule}` : t.scenario ? `scenario ${t.scenario}` : h("span", { class: "muted" }, "default")),
      h("td", {}, t.webhook ? "webhook" : ""),
      h("td", { class: "error-msg" }, t.image_error || "")));
  const table = h("table", { id: "tasks" },
    h("thead", {}, h("tr", {}, ["submitted (fake clock)", "task", "endpoint", "status", "key", "finished", "decided by", "", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows));
  show(
    h("div", { class: "filters" }, select("status", statuses), select("endpoint", endpoints), keyInput,
      h("span", { class: "muted", id: "count" }, `${shown.length} of ${tasks.length} tasks, newest first, live`)),
    tasks.length ? table : notice("No tasks yet: submit one to any /v1/ endpoint of this fake."));
  window.bflMockRendered = { page: "tasks", rows: rows.length, at: performance.now() };
}

// ------------------------------------------------------------------------------------------------ one task
function imageFigure(taskId, name, caption, cls = "") {
  const img = h("img", { src: `${API}/tasks/${encodeURIComponent(taskId)}/images/${name}?max=${cls === "result" ? 512 : 320}`, alt: name, "data-image": name });
  const fig = h("figure", { class: cls }, img, h("figcaption", {}, caption));
  img.addEventListener("error", () => fig.replaceChildren(h("figcaption", {}, `${caption}: not available`)));
  return fig;
}

function isImageSummary(v) {
  return v && typeof v === "object" && "sha256" in v && "length" in v;
}

function bodyTable(body, taskId, errors) {
  if (!body || typeof body !== "object") return h("pre", {}, JSON.stringify(body, null, 2));
  const byField = {};
  for (const e of errors || []) {
    const field = Array.isArray(e.loc) ? e.loc[e.loc.length - 1] : "";
    (byField[field] = byField[field] || []).push(e);
  }
  const rows = Object.entries(body).map(([k, v]) =>
    h("tr", { class: byField[k] ? "err" : "" },
      h("td", { class: "mono" }, k),
      h("td", {}, isImageSummary(v) && taskId
        ? h("span", {}, h("img", { class: "thumb", src: `${API}/tasks/${encodeURIComponent(taskId)}/images/${k}?max=96`, alt: k }),
          ` ${v.length} bytes, sha256 ${String(v.sha256).slice(0, 12)}…`)
        : h("code", {}, JSON.stringify(v))),
      h("td", { class: "error-msg", "data-error-for": k }, (byField[k] || []).map((e) => `${e.msg} (${e.type})`).join("; "))));
  for (const [field, errs] of Object.entries(byField)) {
    if (!(field in body)) {
      rows.push(h("tr", { class: "err" }, h("td", { class: "mono" }, field), h("td", { class: "muted" }, "(missing)"),
        h("td", { class: "error-msg", "data-error-for": field }, errs.map((e) => `${e.msg} (${e.type})`).join("; "))));
    }
  }
  return h("table", { class: "body" }, h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "value"), h("th", {}, "422 detail"))), h("tbody", {}, rows));
}

async function control(path, json) {
  try {
    await api(path, { method: "POST", json: json || {} });
  } catch (e) {
    alert(String(e.message || e));
  }
  route();
}

async function taskPage(id) {
  const enc = encodeURIComponent(id);
  const [task, journal, hooks] = await Promise.all([
    api(`/tasks/${enc}`),
    api(`/requests?task_id=${enc}`),
    api(`/webhooks?task_id=${enc}`),
  ]);
  const params = task.params || {};
  const inputs = Object.entries(params).filter(([, v]) => isImageSummary(v));
  const figures = inputs.map(([k, v]) => imageFigure(id, k, `${k} (${v.length} bytes of base64)`));
  if (task.endpoint === "flux-pro-1.0-canny-finetuned") {
    const low = params.canny_low_threshold ?? 50, high = params.canny_high_threshold ?? 200;
    figures.push(imageFigure(id, "edges", `edge map: cv2.Canny(low=${low}, high=${high}) as BFL's preprocessing`));
  }
  const sample = task.result && task.result.sample;
  let expiry = null;
  if (sample) {
    try { expiry = new URL(sample).searchParams.get("se"); } catch (e) { expiry = null; }
  }
  const entries = journal.requests.slice().reverse();
  const submit = entries.find((e) => e.method === "POST" && e.path.startsWith("/v1/"));
  const polls = entries.filter((e) => e.path === "/v1/get_result");
  const actions = task.status === "Pending" ? h("div", { class: "row" },
    h("button", { id: "complete", onclick: () => control(`/tasks/${enc}/complete`) }, "Complete (Ready)"),
    h("button", { class: "danger", id: "fail", onclick: () => control(`/tasks/${enc}/fail`, { error: "Failed from the dashboard" }) }, "Fail (Error)"),
    h("button", { class: "secondary", id: "moderate", onclick: () => control(`/tasks/${enc}/moderate`, { status: "Content Moderated" }) }, "Moderate")) : null;
  show(
    h("h2", {}, `Task `, h("span", { class: "mono" }, id), " ", h("span", { id: "task-status" }, badge(task.status))),
    actions,
    h("div", { class: "card grid" },
      h("div", {}, "endpoint"), h("div", {}, task.endpoint),
      h("div", {}, "key"), h("div", { class: "mono" }, `${task.key_id || ""} (${task.api_key || ""})`),
      h("div", {}, "submitted"), h("div", { class: "mono" }, when(task.created_at)),
      h("div", {}, "finished"), h("div", { class: "mono" }, when(task.finished_at)),
      h("div", {}, "progression"), h("div", {}, task.progression),
      h("div", {}, "decided by"), h("div", {}, task.rule ? `rule ${task.rule}` : task.scenario ? `scenario ${task.scenario}` : "default (no rule, no scenario)"),
      h("div", {}, "outcome"), h("div", {}, h("code", {}, JSON.stringify(task.outcome))),
      task.details ? [h("div", {}, "details"), h("div", {}, h("code", {}, JSON.stringify(task.details)))] : null,
      task.image_error ? [h("div", {}, "image error"), h("div", { class: "error-msg" }, task.image_error)] : null),
    h("h3", {}, "Images"),
    h("div", { class: "images" }, figures,
      task.status === "Ready" ? imageFigure(id, "result", "result", "result") : h("figure", {}, h("figcaption", {}, `result: ${task.status}`))),
    sample ? h("div", { class: "card" }, h("div", {}, "Signed result URL ", expiry ? `(expires ${expiry})` : ""),
      h("a", { href: sample, class: "mono", id: "sample" }, sample)) : null,
    h("h3", {}, "Request body (as journaled: secrets redacted, images as length and hash)"),
    submit ? bodyTable(submit.body, id, []) : h("p", { class: "muted" }, "not in the journal any more"),
    h("h3", {}, `Polls (${polls.length})`),
    h("table", { id: "polls" }, h("thead", {}, h("tr", {}, ["at", "HTTP", "status", "progress", "latency"].map((c) => h("th", {}, c)))),
      h("tbody", {}, polls.map((p) => h("tr", {},
        h("td", { class: "mono" }, when(p.at)), h("td", {}, p.status),
        h("td", {}, p.response && p.response.status ? badge(p.response.status) : ""),
        h("td", {}, p.response && p.response.progress !== undefined ? String(p.response.progress) : ""),
        h("td", {}, `${p.latency_ms} ms`))))),
    h("h3", {}, `Webhook deliveries (${hooks.webhooks.length})`),
    hooks.webhooks.length ? hooks.webhooks.map(deliveryCard) : h("p", { class: "muted" }, task.webhook_url ? "none yet" : "no webhook_url"));
}

function deliveryCard(d) {
  return h("div", { class: "card delivery", "data-delivery": d.id },
    h("div", { class: "row" }, badge(d.state), h("span", { class: "mono" }, d.url), h("span", { class: "muted" }, `profile ${d.profile}`),
      d.task_id ? taskLink(d.task_id) : null),
    h("table", { class: "attempts" }, h("thead", {}, h("tr", {}, ["#", "at", "status", "error", "latency", "receiver answered"].map((c) => h("th", {}, c)))),
      h("tbody", {}, d.attempts.map((a) => h("tr", { class: a.status && a.status < 300 ? "" : "err" },
        h("td", {}, a.number), h("td", { class: "mono" }, when(a.at)), h("td", {}, a.status ?? ""),
        h("td", { class: "error-msg" }, a.error || ""), h("td", {}, `${a.latency_ms} ms`),
        h("td", {}, h("code", {}, a.answer || "")))))));
}

// ------------------------------------------------------------------------------------------------ journals
async function requestsPage() {
  const data = await api("/requests?limit=300");
  const rows = data.requests.slice().reverse().flatMap((e) => {
    const errors = e.status === 422 && e.response && Array.isArray(e.response.detail) ? e.response.detail : null;
    const row = h("tr", { class: e.status >= 400 ? "err" : "", "data-request": e.id },
      h("td", { class: "mono" }, when(e.at)), h("td", {}, e.method), h("td", { class: "mono" }, e.path + (e.query ? `?${e.query}` : "")),
      h("td", {}, e.status), h("td", {}, `${e.latency_ms} ms`), h("td", {}, e.task_id ? taskLink(e.task_id) : ""));
    if (!errors) return [row];
    return [row, h("tr", { class: "err detail" }, h("td", {}), h("td", { colspan: 5 }, bodyTable(e.body, null, errors)))];
  });
  show(h("h2", {}, "Requests (newest first)"),
    h("table", { id: "requests" }, h("thead", {}, h("tr", {}, ["at", "method", "path", "status", "latency", "task"].map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}

async function webhooksPage() {
  const data = await api("/webhooks");
  show(h("h2", {}, "Webhook deliveries"), data.webhooks.length ? data.webhooks.slice().reverse().map(deliveryCard) : h("p", { class: "muted" }, "none yet"));
}

// ------------------------------------------------------------------------------------------------ control
function schemaFields(spec, name) {
  const schema = spec.components && spec.components.schemas && spec.components.schemas[name];
  if (!schema || !schema.properties) return [];
  return Object.entries(schema.properties).filter(([, p]) => {
    const types = [].concat(p.type || []);
    return types.includes("string") || types.includes("integer");
  }).map(([k, p]) => ({ name: k, integer: [].concat(p.type || []).includes("integer"), description: p.description || "" }));
}

async function controlPage() {
  const [clock, rules, scenarios, spec] = await Promise.all([api("/clock"), api("/rules"), api("/scenarios"), fetch("/openapi.json").then((r) => r.json())]);
  const seconds = h("input", { id: "advance-seconds", type: "number", value: 5, min: 0, step: "any", size: 6 });
  const names = [...Object.keys(scenarios.builtin), ...Object.keys(scenarios.defined)];
  const scenarioSelect = h("select", { id: "scenario" }, names.map((n) => h("option", { value: n }, n)));
  const times = h("input", { id: "scenario-times", type: "number", value: 1, min: 1, size: 4 });
  const fields = [["match", schemaFields(spec, "MockMatch")], ["outcome", schemaFields(spec, "MockOutcome")]];
  const form = h("form", { class: "rule card", id: "rule-form" },
    fields.map(([part, list]) => [h("h3", {}, part), list.map((f) =>
      h("label", {}, h("span", { class: "mono" }, f.name), h("input", { name: `${part}.${f.name}`, type: f.integer ? "number" : "text" }), h("span", { class: "muted" }, f.description)))]),
    h("button", { type: "submit" }, "Add rule"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const rule = {};
    for (const input of form.querySelectorAll("input")) {
      if (input.value === "") continue;
      const [part, key] = input.name.split(".");
      rule[part] = rule[part] || {};
      rule[part][key] = input.type === "number" ? Number(input.value) : input.value;
    }
    await control("/rules", rule);
  });
  show(
    h("h2", {}, "Clock"),
    h("div", { class: "card row" }, h("span", { class: "mono" }, `${when(clock.now)} ${clock.frozen ? "(frozen)" : "(running)"}`),
      seconds, h("button", { id: "advance", onclick: () => control("/clock/advance", { seconds: Number(seconds.value) }) }, "Advance"),
      clock.frozen ? h("button", { class: "secondary", onclick: () => control("/clock/unfreeze") }, "Unfreeze")
        : h("button", { class: "secondary", onclick: () => control("/clock/freeze") }, "Freeze")),
    h("h2", {}, "Scenario for the next submits"),
    h("div", { class: "card row" }, scenarioSelect, "for the next", times, "submits",
      h("button", { id: "apply-scenario", onclick: () => control("/rules", { outcome: { scenario: scenarioSelect.value }, times: Number(times.value), name: "dashboard scenario" }) }, "Apply")),
    h("h2", {}, `Rules (${rules.rules.length})`),
    h("table", { id: "rules" }, h("thead", {}, h("tr", {}, ["id", "name", "match", "outcome", "times", "used", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, rules.rules.map((r) => h("tr", {}, h("td", {}, r.id), h("td", {}, r.name), h("td", {}, h("code", {}, JSON.stringify(r.match))),
        h("td", {}, h("code", {}, JSON.stringify(r.outcome))), h("td", {}, r.times ?? "∞"), h("td", {}, r.used),
        h("td", {}, h("button", { class: "secondary", onclick: async () => { await api(`/rules/${r.id}`, { method: "DELETE" }); route(); } }, "Remove")))))),
    form,
    h("h2", {}, "Reset"),
    h("div", { class: "card row" }, "Forget every task, rule, journal entry and finetune change.",
      h("button", { class: "danger", id: "reset", onclick: () => { if (confirm("Reset the fake?")) control("/reset"); } }, "Reset")));
}

// ------------------------------------------------------------------------------------------------ sign-in, routing
function signIn(message) {
  const input = h("input", { type: "password", id: "token", placeholder: "admin token", autocomplete: "current-password" });
  const form = h("form", { class: "card" }, h("p", {}, message), input, " ", h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/ui/login", { json: { token: input.value } });
      route();
    } catch (e) {
      form.append(h("p", { class: "error-msg" }, String(e.message || e)));
    }
  });
  show(h("h2", {}, "Sign in"), form);
}

async function route() {
  clearTimeout(timer);
  const hash = location.hash || "#/tasks";
  const [, name, arg] = hash.split("/");
  page = name;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === name);
  try {
    if (name === "task" && arg) await taskPage(decodeURIComponent(arg));
    else if (name === "requests") await requestsPage();
    else if (name === "webhooks") await webhooksPage();
    else if (name === "control") await controlPage();
    else await tasksPage();
    await refreshClock();
  } catch (e) {
    if (e instanceof SignInNeeded) return signIn(e.message);
    show(notice(`Could not load: ${e.message || e}`, "notice error-msg"));
  }
  // live: refresh every second (not while the tab is hidden, and not under a user's typing in a filter)
  if (name !== "control") timer = setTimeout(function tick() {
    const typing = document.activeElement && document.activeElement.matches("#main input, #main select");
    if (document.hidden || typing) timer = setTimeout(tick, REFRESH_MS);
    else if (page === name) route();
  }, REFRESH_MS);
}

function render() { route(); }

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);
