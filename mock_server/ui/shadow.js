// bfl-mock dashboard: the Shadow page (bfl-mock shadow). It reads /_mock/shadow, the shadow's report, and
// uses app.js's helpers (h, api, show, notice); like every page, text is only set with textContent. On a
// fake that is not a shadow the page is not offered (its nav link is added only when /_mock/shadow answers).
"use strict";

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
  const answer = (a) => (a ? JSON.stringify(a, null, 2) : "");
  const items = data.divergences.map((d) => h("details", { class: "shadow-divergence", "data-behaviour": d.behaviour },
    h("summary", {},
      h("strong", {}, d.behaviour), " ", h("span", { class: "mono" }, d.endpoint), ": ", d.detail,
      d.deviates_by_setting ? h("span", { class: "muted" }, ` (deviates by setting ${d.deviates_by_setting})`) : "",
      h("span", { class: "muted" }, ` seen ${d.count}x, evidence ${d.evidence}`)),
    h("h4", {}, "request"), h("pre", {}, d.request ? `${d.request.method} ${d.request.url}\n${d.request.body || ""}` : ""),
    h("h4", {}, "real answer (upstream)"), h("pre", {}, answer(d.real)),
    h("h4", {}, "predicted answer (the fake)"), h("pre", {}, answer(d.predicted))));
  show(
    h("h2", {}, "Shadow"),
    h("p", {}, `Upstream ${s.upstream}: ${s.exchanges} exchanges, ${s.compared} compared, `,
      h("strong", {}, `${s.divergences} divergence(s)`), `, ${s.deviations_by_setting} deviation(s) by setting; `,
      `not compared: ${s.not_compared} (queue full), ${s.unpredicted} (tasks not seen submitted); upstream errors ${s.upstream_errors}.`),
    counts,
    items.length ? items : notice("No divergence so far: every exchange agreed with the fake's prediction."),
    h("p", {}, h("button", { class: "secondary", onclick: async () => { await api("/shadow", { method: "DELETE" }); route(); } }, "Clear the report")),
  );
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
