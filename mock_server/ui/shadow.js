// bfl-mock dashboard: the Shadow page (bfl-mock shadow). It reads /_mock/shadow, the shadow's report, and
// uses app.js's helpers (h, api, show, notice); like every page, text is only set with textContent. On a
// fake that is not a shadow the page is not offered (its nav link is added only when /_mock/shadow answers).
"use strict";

const shadowOpen = new Set();

// A body as text: JSON pretty-printed (an object, or a string that parses), anything else as it is.
function bodyText(body) {
  if (body === null || body === undefined || body === "") return "";
  if (typeof body === "string") {
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }
  return JSON.stringify(body, null, 2);
}

// One side of an exchange as a reader expects it on the wire: the status line, one header a line, the body;
// any further field the report keeps after that, by name.
function answerText(a) {
  if (typeof a !== "object") return String(a);
  const lines = [`HTTP ${a.status ?? "?"}`];
  for (const [k, v] of Array.isArray(a.headers) ? a.headers : Object.entries(a.headers || {})) lines.push(`${k}: ${v}`);
  const rest = Object.entries(a).filter(([k]) => !["status", "headers", "body"].includes(k));
  return [lines.join("\n"), bodyText(a.body), ...rest.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)]
    .filter(Boolean).join("\n\n");
}

function requestText(r) {
  const lines = [`${r.method} ${r.url || r.path || ""}`];
  for (const [k, v] of Array.isArray(r.headers) ? r.headers : Object.entries(r.headers || {})) lines.push(`${k}: ${v}`);
  return [lines.join("\n"), bodyText(r.body)].filter(Boolean).join("\n\n");
}

async function shadowPage() {
  let data;
  try {
    data = await api("/shadow");
  } catch (e) {
    if (e instanceof SignInNeeded) throw e;
    show(h("h2", {}, "Shadow"), notice("This fake is not running as `bfl-mock shadow`: there is no shadow report here."));
    return;
  }
  const s = data.summary;
  const counts = h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "behaviour"), h("th", {}, "what is compared"), h("th", {}, "evidence"), h("th", {}, "divergent exchanges"))),
    h("tbody", {}, data.behaviours.map((b) => h("tr", { class: b.divergent_exchanges ? "err" : "" },
      h("td", {}, b.name), h("td", {}, b.what), h("td", { class: "mono" }, b.evidence), h("td", {}, b.divergent_exchanges)))));
  const answer = (a) => (a ? answerText(a) : "");
  // the page re-renders every second: a divergence the user opened stays open (by its behaviour, endpoint, detail)
  const keyOf = (d) => JSON.stringify([d.behaviour, d.endpoint, d.detail]);
  const items = data.divergences.map((d) => h("details", { class: "shadow-divergence", "data-behaviour": d.behaviour,
    "data-setting": d.deviates_by_setting || null, open: shadowOpen.has(keyOf(d)), ontoggle: (e) => { if (e.target.open) shadowOpen.add(keyOf(d)); else shadowOpen.delete(keyOf(d)); } },
    h("summary", {},
      h("strong", {}, d.behaviour), " ", h("span", { class: "mono" }, d.endpoint), ": ", d.detail,
      d.deviates_by_setting ? h("span", { class: "muted" }, ` (deviates by setting ${d.deviates_by_setting})`) : "",
      h("span", { class: "muted" }, ` seen ${d.count}x, evidence ${d.evidence}`)),
    h("div", { class: "shadow-sides" },
      h("div", {}, h("h4", {}, "request"), h("pre", { "data-part": "request" }, d.request ? requestText(d.request) : "")),
      h("div", {}, h("h4", {}, "real answer (upstream)"), h("pre", { "data-part": "real" }, answer(d.real))),
      h("div", {}, h("h4", {}, "predicted answer (the fake)"), h("pre", { "data-part": "predicted" }, answer(d.predicted))))));
  show(
    h("h2", {}, "Shadow"),
    h("p", { id: "shadow-summary" }, `Upstream ${s.upstream}: ${s.exchanges} exchanges, ${s.compared} compared, `,
      h("strong", {}, plural(s.divergences, "divergence")), `, ${plural(s.deviations_by_setting, "deviation")} by setting; `,
      `not compared: ${s.not_compared} (queue full), ${s.unpredicted} (tasks not seen submitted); upstream errors ${s.upstream_errors}.`),
    counts,
    h("h3", {}, `Divergences and deviations (${items.length}), each with its request and both answers`),
    items.length ? items : notice("No divergence so far: every exchange agreed with the fake's prediction."),
    h("p", {}, h("button", { class: "secondary", onclick: async () => { await api("/shadow", { method: "DELETE" }); route(); } }, "Clear the report")),
  );
  window.bflMockRendered = { page: "shadow", at: performance.now() };
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    await api("/shadow");
  } catch (e) {
    return;
  }
  const nav = document.querySelector("header nav");
  if (nav && !nav.querySelector('[data-page="shadow"]')) {
    nav.append(h("a", { href: "#/shadow", "data-page": "shadow" }, "Shadow"));
  }
});
