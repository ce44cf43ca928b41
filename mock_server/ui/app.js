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
  if (!r.ok) {
    const detail = body && body.detail !== undefined ? body.detail : text;
    throw new Error(`${r.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return body;
}

const when = (t) => (t === null || t === undefined ? "" : new Date(t * 1000).toISOString().replace("T", " ").replace("Z", ""));
const badge = (s) => h("span", { class: `badge ${String(s).replace(/ /g, "-")}` }, s);
const short = (id) => String(id).slice(0, 8);
const taskLink = (id) => h("a", { href: `#/task/${encodeURIComponent(id)}`, class: "mono" }, short(id));

// A server message in words: `name` spans (the admin API writes them for terminals) become <code>, built
// with textContent like everything else, so no backtick shows and nothing is parsed as HTML.
function words(text) {
  return String(text).split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function notice(text, cls = "notice") {
  return h("div", { class: cls }, words(text));
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
const PROMPT_SHOWN = 80;

function imageProblem(t) {
  if (!t.image_error) return "";
  // a Pending task whose input image failed its check finishes as Error when its time comes
  const text = t.status === "Pending" ? `will end as Error: ${t.image_error}` : t.image_error;
  return h("span", { class: "error-msg", title: t.image_error }, text);
}

async function tasksPage() {
  const query = new URLSearchParams({ brief: "1", order: "newest", limit: "1000" });
  if (filters.key) query.set("key", filters.key);
  const data = await api(`/tasks?${query}`);
  const tasks = data.tasks;
  const endpoints = [...new Set(tasks.map((t) => t.endpoint))].sort();
  const statuses = ["Pending", "Ready", "Error", "Request Moderated", "Content Moderated", "Task not found"];
  const select = (name, values) =>
    h("select", { name, onchange: (e) => { filters[name] = e.target.value; render(); } },
      h("option", { value: "" }, `any ${name}`),
      values.map((v) => h("option", { value: v, selected: filters[name] === v }, v)));
  const keyInput = h("input", {
    name: "key", placeholder: "API key or fingerprint", value: filters.key, size: 22,
    title: "a whole API key (compared by its fingerprint), or the start of a fingerprint from the key column",
  });
  keyInput.addEventListener("change", (e) => { filters.key = e.target.value.trim(); render(); });
  const shown = tasks.filter((t) =>
    (!filters.status || t.status === filters.status) &&
    (!filters.endpoint || t.endpoint === filters.endpoint));
  const anyProblem = shown.some((t) => t.image_error);
  const rows = shown.map((t) => {
    const prompt = t.prompt || "";
    return h("tr", { "data-task": t.id, "data-status": t.status },
      h("td", { class: "mono" }, when(t.created_at)),
      h("td", {}, taskLink(t.id)),
      h("td", {}, t.endpoint),
      h("td", { class: "prompt", title: prompt }, prompt.length > PROMPT_SHOWN ? `${prompt.slice(0, PROMPT_SHOWN)}…` : prompt),
      h("td", {}, badge(t.status), t.progress !== null ? h("progress", { value: t.progress, max: 1 }) : null),
      h("td", { class: "mono", title: t.api_key || "" }, t.key_id || ""),
      h("td", { class: "mono" }, when(t.finished_at)),
      h("td", {}, t.rule ? `rule ${t.rule}` : t.scenario ? `scenario ${t.scenario}` : h("span", { class: "muted" }, "default")),
      h("td", { class: "webhook" }, t.webhook ? "yes" : ""),
      anyProblem ? h("td", { class: "image-problem" }, imageProblem(t)) : null);
  });
  const headers = ["submitted (fake clock)", "task", "endpoint", "prompt", "status", "key (fingerprint)", "finished",
    "decided by", "webhook_url"];
  if (anyProblem) headers.push("input image problem");
  const table = h("table", { id: "tasks" },
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows));
  const keyNote = filters.key ? ` with key ${filters.key}` : "";
  show(
    h("div", { class: "filters" }, select("status", statuses), select("endpoint", endpoints), keyInput,
      h("span", { class: "muted", id: "count" }, `${shown.length} of ${plural(tasks.length, "task")}${keyNote}, newest first, live`)),
    tasks.length || filters.key ? table : notice("No tasks yet: submit one to any /v1/ endpoint of this fake."));
  window.bflMockRendered = { page: "tasks", rows: rows.length, at: performance.now() };
}

// ------------------------------------------------------------------------------------------------ one task
// A task's media as the server lists it ({name, caption, media_type}), chosen by media type alone: an image, a
// player for a video or audio (a video result plays from its signed MP4 when that is on this origin), and for
// any other type (a draft bundle sent as input) its caption and type: a file, not a picture.
function mediaFigure(taskId, preview, cls = "", signed = null) {
  const { name, caption } = preview;
  const media = preview.media_type || "image/*";
  const kind = media.split("/")[0];
  const size = cls === "result" ? 512 : 320;
  const src = signed || `${API}/tasks/${encodeURIComponent(taskId)}/images/${encodeURIComponent(name)}${kind === "image" ? `?max=${size}` : ""}`;
  const data = { "data-image": name, "data-media": media };
  // the page re-renders every second: the element shown before is kept (a playing video goes on playing)
  const before = [...document.querySelectorAll("#main [data-image]")]
    .find((e) => e.dataset.image === name && e.dataset.media === media && e.getAttribute("src") === (kind === "image" || kind === "video" || kind === "audio" ? src : null));
  const el = before ? before : kind === "video" ? h("video", { src, controls: true, muted: true, loop: true, playsinline: true, preload: "metadata", ...data })
    : kind === "audio" ? h("audio", { src, controls: true, preload: "metadata", ...data })
    : kind === "image" ? h("img", { src, alt: name, ...data })
    : h("div", { class: "file", ...data }, h("span", { class: "mono" }, name), h("span", { class: "muted" }, ` ${media}: a file, not shown`));
  const fig = h("figure", { class: `${cls} ${kind}`.trim() }, el, h("figcaption", {}, caption));
  el.onerror = () => fig.replaceChildren(h("figcaption", { "data-missing": name }, `${caption}: not available`));
  return fig;
}

// A signed result URL the page may load itself (same origin: the CSP allows 'self' only), else null.
function sameOrigin(url) {
  try { return new URL(url, location.href).origin === location.origin ? url : null; } catch (e) { return null; }
}

// The result's files (sample first, then any further artefact: FLUX 3's draft_cache bundle) as download links,
// each with the media type its signed URL states (rsct).
function filesCard(result) {
  const files = Object.entries(result || {}).filter(([, v]) => typeof v === "string" && /^https?:\/\//.test(v))
    .sort(([a], [b]) => (a === "sample" ? -1 : b === "sample" ? 1 : 0));
  if (!files.length) return null;
  let expiry = null;
  try { expiry = new URL(files[0][1]).searchParams.get("se"); } catch (e) { expiry = null; }
  const rows = files.map(([name, url]) => {
    let media = "", leaf = name;
    try {
      const u = new URL(url);
      media = u.searchParams.get("rsct") || "";
      leaf = u.pathname.split("/").pop() || name;
    } catch (e) { /* shown as it is */ }
    return h("tr", { "data-file": name },
      h("td", { class: "mono" }, name), h("td", { class: "mono" }, media),
      h("td", {}, h("a", { href: url, download: leaf, class: "mono", "data-artefact": name, id: name === "sample" ? "sample" : null }, url)));
  });
  return h("div", { class: "card", id: "files" },
    h("div", {}, `Result files (signed URLs${expiry ? `, expire ${expiry}` : ""})`),
    h("table", { class: "files" }, h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "media type"), h("th", {}, "download"))),
      h("tbody", {}, rows)));
}

function thumb(taskId, name) {
  const img = h("img", { class: "thumb", src: `${API}/tasks/${encodeURIComponent(taskId)}/images/${name}?max=96`, alt: "" });
  img.addEventListener("error", () => img.remove());  // not a usable image, or no longer kept: the text says enough
  return img;
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
        ? h("span", {}, thumb(taskId, k),
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
  const previews = task.previews || [];
  const figures = previews.filter((p) => p.name !== "result").map((p) => mediaFigure(id, p));
  const result = previews.find((p) => p.name === "result") || { name: "result", caption: "result" };
  const sample = task.result && task.result.sample;
  const resultKind = (result.media_type || "image/*").split("/")[0];
  const resultSrc = sample && (resultKind === "video" || resultKind === "audio") ? sameOrigin(sample) : null;
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
      h("div", {}, "prompt"), h("div", { id: "task-prompt" }, (task.params && typeof task.params.prompt === "string") ? task.params.prompt : h("span", { class: "muted" }, "none")),
      h("div", {}, "key"), h("div", { class: "mono" }, `${task.key_id || ""} (${task.api_key || ""})`),
      h("div", {}, "submitted"), h("div", { class: "mono" }, when(task.created_at)),
      h("div", {}, "finished"), h("div", { class: "mono" }, when(task.finished_at)),
      h("div", {}, "progression"), h("div", {}, task.progression),
      h("div", {}, "decided by"), h("div", {}, task.rule ? `rule ${task.rule}` : task.scenario ? `scenario ${task.scenario}` : "default (no rule, no scenario)"),
      h("div", {}, "outcome"), h("div", {}, h("code", {}, JSON.stringify(task.outcome))),
      task.details ? [h("div", {}, "details"), h("div", {}, h("code", {}, JSON.stringify(task.details)))] : null,
      task.image_error ? [h("div", {}, "input image problem"), h("div", { class: "error-msg", id: "image-problem" },
        task.status === "Pending" ? `the input image failed its check, so this task will end as Error: ${task.image_error}` : task.image_error)] : null),
    h("h3", {}, resultKind === "image" && figures.every((f) => f.classList.contains("image")) ? "Images" : "Media"),
    h("div", { class: "images" }, figures,
      task.status === "Ready" ? mediaFigure(id, result, "result", resultSrc) : h("figure", {}, h("figcaption", {}, `result: ${task.status}`))),
    filesCard(task.result),
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
  window.bflMockRendered = { page: "task", at: performance.now() };
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
const requestFilters = { method: "", path: "", status: "", polls: false };

async function requestsPage() {
  const query = new URLSearchParams({ limit: "300" });
  if (requestFilters.method) query.set("method", requestFilters.method);
  if (requestFilters.path) query.set("path", requestFilters.path.endsWith("*") ? requestFilters.path : `${requestFilters.path}*`);
  if (requestFilters.status) query.set("status", requestFilters.status);
  if (!requestFilters.polls) query.set("polls", "0");
  const data = await api(`/requests?${query}`);
  const rows = data.requests.slice().reverse().flatMap((e) => {
    const errors = e.status === 422 && e.response && Array.isArray(e.response.detail) ? e.response.detail : null;
    const row = h("tr", { class: e.status >= 400 ? "err" : "", "data-request": e.id },
      h("td", { class: "mono" }, when(e.at)), h("td", {}, e.method), h("td", { class: "mono" }, e.path + (e.query ? `?${e.query}` : "")),
      h("td", {}, e.status), h("td", {}, `${e.latency_ms} ms`), h("td", {}, e.task_id ? taskLink(e.task_id) : ""));
    if (!errors) return [row];
    return [row, h("tr", { class: "err detail" }, h("td", {}), h("td", { colspan: 5 }, bodyTable(e.body, null, errors)))];
  });
  const set = (name) => (e) => { requestFilters[name] = e.target.type === "checkbox" ? e.target.checked : e.target.value.trim(); render(); };
  const choice = (name, label, values) => h("select", { name, onchange: set(name) },
    h("option", { value: "" }, label), values.map(([v, text]) => h("option", { value: v, selected: requestFilters[name] === v }, text)));
  const path = h("input", { name: "path", placeholder: "path starts with, e.g. /v1/flux", value: requestFilters.path, size: 28 });
  path.addEventListener("change", set("path"));
  const polls = h("input", { type: "checkbox", name: "polls", id: "show-polls", checked: requestFilters.polls });
  polls.addEventListener("change", set("polls"));
  const filterBar = h("div", { class: "filters", id: "request-filters" },
    choice("method", "any method", ["GET", "POST", "PUT", "DELETE", "HEAD"].map((m) => [m, m])),
    path,
    choice("status", "any status", [["2xx", "2xx success"], ["3xx", "3xx redirect"], ["4xx", "4xx client error"],
      ["5xx", "5xx server error"], ["422", "422 validation"], ["404", "404 not found"], ["429", "429 rate limited"]]),
    h("label", { for: "show-polls" }, polls, " show polls (GET /v1/get_result)"),
    h("span", { class: "muted", id: "request-count" }, `${plural(data.requests.length, "request")}${requestFilters.polls ? "" : ", polls hidden"}, newest first (at most 300)`));
  show(h("h2", {}, "Requests"), filterBar,
    rows.length ? h("table", { id: "requests" }, h("thead", {}, h("tr", {}, ["at", "method", "path", "status", "latency", "task"].map((c) => h("th", {}, c)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No request matches these filters."));
}

async function webhooksPage() {
  const data = await api("/webhooks");
  show(h("h2", {}, "Webhook deliveries"), data.webhooks.length ? data.webhooks.slice().reverse().map(deliveryCard) : h("p", { class: "muted" }, "none yet"));
}

// ------------------------------------------------------------------------------------------------ control
// The rule form is built from the rule schema the fake publishes (/openapi.json: MockMatch, MockOutcome), so
// every key a rule may have gets a field, and a new key in the schema appears here without a change.
function resolve(spec, schema) {
  const seen = new Set();
  while (schema && schema.$ref && !seen.has(schema.$ref)) {
    seen.add(schema.$ref);
    schema = spec.components.schemas[schema.$ref.split("/").pop()];
  }
  return schema || {};
}

function typesOf(schema) { return [].concat(schema.type || []); }

// One schema property -> a field description: {name, kind, description, children?}
function fieldOf(spec, name, raw) {
  const schema = resolve(spec, raw);
  const description = schema.description || raw.description || "";
  const variants = (schema.anyOf || []).map((v) => resolve(spec, v)).filter((v) => !typesOf(v).includes("null"));
  const nested = variants.find((v) => v.properties) || (schema.properties ? schema : null);
  if (nested) {
    const scalar = variants.find((v) => !v.properties);  // e.g. latency: one number for every phase, or per phase
    return { name, kind: "group", description: description || nested.description || "", scalar: scalar ? kindOf(scalar) : null,
      children: Object.entries(nested.properties).filter(([, p]) => !String(p.description || "").startsWith("the same as"))
        .map(([k, p]) => fieldOf(spec, k, p)) };
  }
  return { name, kind: kindOf(schema), description: description || (variants[0] || {}).description || "" };
}

function kindOf(schema) {
  const types = typesOf(schema);
  if (schema.anyOf) {
    const variants = schema.anyOf.filter((v) => !typesOf(v).includes("null"));
    if (variants.some((v) => typesOf(v).includes("array")) && variants.some((v) => typesOf(v).includes("number"))) return "range";
    return kindOf(variants[0] || {});
  }
  if (types.includes("boolean")) return "boolean";
  if (types.includes("integer")) return "integer";
  if (types.includes("number")) return "number";
  if (types.includes("array")) return schema.items && typesOf(schema.items).includes("number") ? "range" : "list";
  if (types.includes("object")) return "pairs";
  if (types.includes("string")) return "text";
  return "json";
}

const HINTS = {
  list: "comma-separated",
  pairs: "Name: value, one per line",
  range: "seconds, or MIN-MAX",
  number: "seconds",
  json: "text, or JSON",
};

function inputFor(field, path) {
  const name = path.join(".");
  const attrs = { name, "data-kind": field.kind, placeholder: HINTS[field.kind] || "" };
  if (field.kind === "boolean") return h("input", { ...attrs, type: "checkbox", class: "check" });
  if (field.kind === "pairs") return h("textarea", { ...attrs, rows: 2, cols: 30 });
  return h("input", { ...attrs, type: field.kind === "integer" ? "number" : "text" });
}

function formRows(field, path) {
  if (field.kind === "group") {
    const childHelp = new Set(field.children.map((c) => c.description));
    const shared = childHelp.size === 1 ? [...childHelp][0] : "";  // said once, not on every row
    return h("fieldset", { class: "group", "data-group": path.join(".") },
      h("legend", {}, h("span", { class: "mono" }, field.name), field.description ? ` ${field.description}` : ""),
      shared ? h("div", { class: "muted" }, shared) : null,
      field.scalar ? h("label", {}, h("span", { class: "mono" }, "(all)"), inputFor({ kind: field.scalar }, [...path, ""]),
        h("span", { class: "muted" }, "one value for every phase, or one per phase below (those win)")) : null,
      field.children.map((c) => formRows({ ...c, description: shared ? "" : c.description }, [...path, c.name])));
  }
  return h("label", {}, h("span", { class: "mono" }, field.name), inputFor(field, path),
    h("span", { class: "muted" }, field.description));
}

function seconds(text) {
  const m = /^\s*([0-9.]+)\s*(?:-\s*([0-9.]+))?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not seconds (a number, or MIN-MAX)`);
  return m[2] === undefined ? Number(m[1]) : [Number(m[1]), Number(m[2])];
}

function valueOf(input) {
  const kind = input.dataset.kind;
  if (kind === "boolean") return input.checked ? true : undefined;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (kind === "integer") return Number(text);
  if (kind === "range") return seconds(text);
  if (kind === "number") {
    const n = Number(text);
    if (!Number.isFinite(n)) throw new Error(`${input.name}: "${text}" is not a number`);
    return n;
  }
  if (kind === "list") return text.split(",").map((v) => v.trim()).filter(Boolean);
  if (kind === "pairs") {
    const out = {};
    for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf(":");
      if (at < 1) throw new Error(`"${line}" is not Name: value`);
      out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return out;
  }
  if (kind === "json") { try { return JSON.parse(text); } catch (e) { return text; } }
  return text;
}

function ruleFromForm(form) {
  const rule = {};
  for (const input of form.querySelectorAll("input[data-kind], textarea[data-kind]")) {
    const value = valueOf(input);
    if (value === undefined) continue;
    const path = input.name.split(".");
    if (path[path.length - 1] === "") path.pop();  // a group's own value (latency for every phase)
    let node = rule;
    for (const key of path.slice(0, -1)) node = node[key] = (node[key] && typeof node[key] === "object" && !Array.isArray(node[key])) ? node[key] : {};
    const last = path[path.length - 1];
    if (node[last] && typeof node[last] === "object" && !Array.isArray(node[last])) continue;  // per-phase values win
    node[last] = value;
  }
  const name = form.querySelector("[name=rule-name]").value.trim();
  const times = form.querySelector("[name=rule-times]").value.trim();
  if (name) rule.name = name;
  if (times) rule.times = Number(times);
  return rule;
}

async function controlPage() {
  const [clock, rules, scenarios, spec] = await Promise.all([api("/clock"), api("/rules"), api("/scenarios"), fetch("/openapi.json").then((r) => r.json())]);
  const advance = h("input", { id: "advance-seconds", type: "number", value: 5, min: 0, step: "any", size: 6, title: "seconds on the fake clock" });
  const names = [...Object.keys(scenarios.builtin), ...Object.keys(scenarios.defined)];
  const scenarioSelect = h("select", { id: "scenario" }, names.map((n) => h("option", { value: n }, n)));
  const times = h("input", { id: "scenario-times", type: "number", value: 1, min: 1, size: 4 });
  const parts = ["MockMatch", "MockOutcome"].map((schema, i) => {
    const props = resolve(spec, { $ref: `#/components/schemas/${schema}` }).properties || {};
    return [["match", "outcome"][i], Object.entries(props).map(([k, p]) => fieldOf(spec, k, p))];
  });
  const message = h("p", { class: "error-msg", id: "rule-error" });
  const form = h("form", { class: "rule card", id: "rule-form" },
    h("h3", {}, "Add a rule"),
    h("p", { class: "muted" }, "Fields left empty are not part of the rule. The first rule that matches a submit decides its outcome."),
    h("label", {}, h("span", { class: "mono" }, "name"), h("input", { name: "rule-name", type: "text" }), h("span", { class: "muted" }, "shown in the task list's decided by column")),
    h("label", {}, h("span", { class: "mono" }, "times"), h("input", { name: "rule-times", type: "number", min: 1 }), h("span", { class: "muted" }, "stop after this many submits (empty: no limit)")),
    parts.map(([part, list]) => h("fieldset", { "data-part": part }, h("legend", {}, part === "match" ? "match: which submits" : "outcome: what happens"),
      list.map((f) => formRows(f, [part, f.name])))),
    message,
    h("button", { type: "submit" }, "Add rule"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let rule;
    try { rule = ruleFromForm(form); } catch (e) { message.textContent = e.message; return; }
    try {
      await api("/rules", { method: "POST", json: rule });
    } catch (e) {
      message.replaceChildren(...words(e.message || e));
      return;
    }
    route();
  });
  show(
    h("h2", {}, "Clock"),
    h("div", { class: "card row" }, h("span", { class: "mono" }, `${when(clock.now)} ${clock.frozen ? "(frozen)" : "(running)"}`),
      h("label", { for: "advance-seconds" }, "advance by"), advance, h("span", {}, "seconds"),
      h("button", { id: "advance", onclick: () => control("/clock/advance", { seconds: Number(advance.value) }) }, "Advance"),
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
  const form = h("form", { class: "card", id: "sign-in" },
    h("p", {}, "This fake was started with an admin token (--admin-token). Enter it to open the dashboard; the browser keeps a session cookie, never the token."),
    h("p", { class: "muted" }, words(message)), input, " ", h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/ui/login", { json: { token: input.value } });
      route();
    } catch (e) {
      form.append(h("p", { class: "error-msg" }, words(e.message || e)));
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
    else if (name === "shadow") await shadowPage(); // ui/shadow.js
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
