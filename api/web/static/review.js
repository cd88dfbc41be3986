// The reviewers' console: the queue, one case with everything about it, the resolution, and
// the reviewer metrics (for keys that may read them).
//
// The reviewer signs in by pasting their API key. It is kept in sessionStorage (this tab only)
// and sent in the Authorization header; it never goes in a cookie or in the address bar. The
// route lives in the fragment: #queue, #case=<id>, #metrics.

import { ApiError, call } from "./api.js";
import { contributionChart, signed } from "./chart.js";
import { clear, el, flag, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";

const KEY = "glassbox.review.key";
const state = { key: null, canQueue: false, canMetrics: false };
const main = () => document.getElementById("main");

const STATES = { open: "Open", assigned: "Claimed", resolved: "Resolved", withdrawn: "Withdrawn" };
const ORIGINS = { contest: "Contested by the person", policy: "Held by policy", escalation: "Escalated by a reviewer" };
const RESOLUTIONS = { uphold: "Uphold the automated decision", overturn: "Overturn it", amend: "Amend it" };

function date(value, withTime = false) {
  if (!value) return "—";
  const options = { dateStyle: "medium", timeZone: "UTC" };
  if (withTime) options.timeStyle = "short";
  return `${new Intl.DateTimeFormat("en-GB", options).format(new Date(value))}${withTime ? " UTC" : ""}`;
}

function percent(value) {
  return `${(value * 100).toFixed(0)}%`;
}

function message(text, kind = "info") {
  return el("p", { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status", text });
}

function route() {
  const hash = window.location.hash.slice(1);
  const params = new URLSearchParams(hash);
  if (params.get("case")) return { view: "case", id: params.get("case") };
  if (hash === "metrics") return { view: "metrics" };
  return { view: "queue" };
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!state.key) return clear(nav);
  const current = route().view;
  const link = (href, text, view) => el("a", { href, text, "aria-current": current === view ? "page" : null });
  show(
    nav,
    state.canQueue ? link("#queue", "Queue", "queue") : null,
    state.canMetrics ? link("#metrics", "Reviewer metrics", "metrics") : null,
    el("button", { type: "button", class: "link-button", id: "sign-out", text: "Sign out", onclick: signOut }),
  );
}

function signOut() {
  sessionStorage.removeItem(KEY);
  Object.assign(state, { key: null, canQueue: false, canMetrics: false });
  renderNav();
  renderSignIn();
}

// --- signing in ------------------------------------------------------------------------------

function renderSignIn(problem) {
  const form = el(
    "form",
    { id: "sign-in", novalidate: true, onsubmit: signIn },
    el("div", { class: "form-errors", id: "sign-in-errors", role: "alert", tabindex: "-1", hidden: !problem }, problem ? el("p", { text: problem }) : null),
    el(
      "div",
      { class: "field" },
      el("label", { for: "field-key", text: "Your reviewer API key" }),
      el("p", { class: "hint", id: "field-key-hint", text: "Kept in this tab only, sent in a header, never stored in a cookie." }),
      el("input", { id: "field-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": "field-key-hint", "data-field": "key" }),
    ),
    el("button", { type: "submit", class: "primary", text: "Sign in" }),
  );
  show(main(), el("h1", { text: "Sign in to review" }), form);
  document.title = "Sign in — glassbox review";
  (problem ? form.querySelector("#sign-in-errors") : form.querySelector("#field-key")).focus();
}

async function probe(path) {
  try {
    await call("GET", path, { credential: state.key, query: path.endsWith("/cases") ? { limit: "1" } : undefined });
    return "yes";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return "invalid";
    if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return "no";
    throw error;
  }
}

/** Which parts of the console this key opens; false when the key is not valid at all. */
async function discover() {
  const [queue, metrics] = await Promise.all([probe("/v1/reviews/cases"), probe("/v1/audit/reviewers")]);
  if (queue === "invalid" || metrics === "invalid") return false;
  state.canQueue = queue === "yes";
  state.canMetrics = metrics === "yes";
  return true;
}

async function signIn(event) {
  event.preventDefault();
  const key = event.currentTarget.querySelector("#field-key").value.trim();
  if (!key) return renderSignIn("Paste your API key first.");
  state.key = key;
  let valid;
  try {
    valid = await discover();
  } catch {
    state.key = null;
    return renderSignIn("The service cannot be reached; try again.");
  }
  if (!valid || (!state.canQueue && !state.canMetrics)) {
    state.key = null;
    return renderSignIn(valid ? "This key opens neither the review queue nor the reviewer metrics." : "This key is not valid, or it was revoked.");
  }
  sessionStorage.setItem(KEY, key);
  if (!state.canQueue && route().view === "queue") window.location.hash = "metrics";
  else renderRoute();
}

// --- the queue -------------------------------------------------------------------------------

async function renderQueue() {
  document.title = "Queue — glassbox review";
  if (!state.canQueue) return show(main(), el("h1", { text: "Review queue" }), message("This key is not a reviewer's key: it cannot work the review queue.", "error"));
  const cases = await call("GET", "/v1/reviews/cases", { credential: state.key, query: { limit: "500" } });
  // By due date, earliest first: the overdue ones come first because their date has passed.
  cases.sort((a, b) => new Date(a.due_at) - new Date(b.due_at) || a.case_id.localeCompare(b.case_id));
  const overdue = cases.filter((c) => c.overdue).length;
  const rows = cases.map((c) =>
    el(
      "tr",
      { class: c.overdue ? "overdue" : null, "data-case": c.case_id },
      el("td", {}, date(c.due_at), c.overdue ? [" ", flag("overdue", "Overdue")] : null),
      el("td", {}, el("a", { href: `#case=${c.case_id}`, text: `Case ${c.case_id.slice(0, 8)}` })),
      el("td", { text: c.model }),
      el("td", { text: ORIGINS[c.origin] || c.origin }),
      el("td", { text: c.awaiting_second_reviewer ? "Awaiting a second reviewer" : STATES[c.state] || c.state }),
      el("td", { text: date(c.received_at) }),
      el(
        "td",
        {},
        c.claimable
          ? el("button", { type: "button", class: "claim", "aria-label": `Claim case ${c.case_id.slice(0, 8)}`, text: "Claim", onclick: () => claim(c.case_id, true) })
          : el("span", { class: "hint", text: c.assigned_to ? "Claimed" : "—" }),
      ),
    ),
  );
  show(
    main(),
    el("h1", { text: "Review queue" }),
    el("p", { class: "hint", id: "queue-summary", text: `${cases.length} case${cases.length === 1 ? "" : "s"} waiting${overdue ? `, ${overdue} overdue` : ""}. Sorted by due date.` }),
    cases.length
      ? el(
          "table",
          { id: "queue" },
          el("caption", { class: "visually-hidden", text: "Cases waiting for review, earliest due date first" }),
          el("thead", {}, el("tr", {}, ...["Due", "Case", "Model", "Origin", "State", "Received", "Action"].map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, ...rows),
        )
      : message("No cases are waiting for review."),
  );
}

async function claim(caseId, open) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/claim`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError ? error.message : "The claim failed.");
  }
  if (open) window.location.hash = `case=${caseId}`;
  else renderRoute();
}

function showBanner(text) {
  const banner = message(text, "error");
  banner.id = "banner";
  banner.tabIndex = -1;
  const old = document.getElementById("banner");
  if (old) old.remove();
  main().prepend(banner);
  banner.focus();
}

// --- one case --------------------------------------------------------------------------------

function factsList(pairs) {
  return el("dl", { class: "facts" }, ...pairs.filter(Boolean).map(([term, value]) => [el("dt", { text: term }), el("dd", {}, value)]));
}

function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(4)));
  return String(value);
}

function rescoreRow(title, rescore) {
  if (!rescore) return el("tr", {}, el("th", { scope: "row", text: title }), el("td", { colspan: "4", text: "Not available" }));
  return el(
    "tr",
    {},
    el("th", { scope: "row", text: title }),
    el("td", { class: "number", text: `v${rescore.model_version}` }),
    el("td", { class: "number", text: rescore.score === null ? (rescore.rules_fired && rescore.rules_fired.length ? rescore.rules_fired.join(", ") : "no rule fires") : rescore.score.toFixed(3) }),
    el("td", { text: rescore.outcome }),
    el("td", { text: rescore.corrected ? "with the person's corrections" : "inputs as decided" }),
  );
}

/** A decision by rules: the rules that fired with the person's values, and the nearest change. */
function rulesSection(rules) {
  return [
    el("h2", { text: "The rules that fired" }),
    (rules.fired || []).length
      ? el(
          "table",
          { id: "rules-fired" },
          el("thead", {}, el("tr", {}, ...["Rule", "Outcome", "Condition", "The person's value"].map((h) => el("th", { scope: "col", text: h })))),
          el(
            "tbody",
            {},
            ...rules.fired.flatMap((f) =>
              f.conditions.map((c, i) =>
                el(
                  "tr",
                  {},
                  el("th", { scope: "row", text: i === 0 ? f.rule : "" }),
                  el("td", { text: i === 0 ? f.outcome : "" }),
                  el("td", { text: `${c.input} ${c.op} ${Array.isArray(c.value) ? c.value.join(", ") : valueText(c.value)}` }),
                  el("td", { text: `${c.display_value.en}${c.compared !== c.person_value ? ` (${valueText(c.compared)})` : ""}` }),
                ),
              ),
            ),
          ),
        )
      : el("p", { id: "rules-default", text: `No rule fired: ${rules.default_reason ? rules.default_reason.en : rules.outcome}.` }),
    rules.nearest_change ? el("p", { id: "nearest-change", text: rules.nearest_change.text.en }) : null,
  ];
}

function shapSection(d, explanation) {
  return [
    el("h2", { text: "All contributions (SHAP, log-odds)" }),
    el(
      "p",
      { class: "hint", id: "additivity" },
      `Base value ${valueText(explanation.base_value)} plus the contributions gives the margin ${valueText(explanation.margin)}; score ${valueText(explanation.score)}.`,
    ),
    el(
      "figure",
      { class: "chart-frame" },
      contributionChart(allContributions(d), {
        id: "shap-chart",
        title: "Every feature's contribution to the decision's margin, largest first",
        raises: "raises",
        lowers: "lowers",
        axisRaises: "raises the score →",
        axisLowers: "← lowers the score",
      }),
    ),
  ];
}

function allContributions(decision) {
  const explanation = decision.explanation || {};
  const names = explanation.feature_names || [];
  const values = explanation.values || [];
  const labels = Object.fromEntries((decision.factors || []).map((f) => [f.feature, f.label]));
  return names
    .map((name, i) => ({ label: labels[name] ? `${labels[name]} (${name})` : name, contribution: values[i] }))
    .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
}

async function renderCase(caseId) {
  if (!state.canQueue) return show(main(), message("This key is not a reviewer's key.", "error"));
  let item;
  try {
    item = await call("GET", `/v1/reviews/cases/${caseId}`, { credential: state.key });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      return show(main(), el("h1", { text: "Case not found" }), el("p", {}, el("a", { href: "#queue", text: "Back to the queue" })));
    }
    throw error;
  }
  const d = item.decision;
  const short = item.case_id.slice(0, 8);
  document.title = `Case ${short} — glassbox review`;
  const explanation = d.explanation || {};
  const active = item.state === "open" || item.state === "assigned";
  show(
    main(),
    el("p", {}, el("a", { href: "#queue", text: "← Back to the queue" })),
    el("h1", { id: "case-title", tabindex: "-1", text: `Case ${short}` }),
    el(
      "div",
      { class: "card" },
      factsList([
        ["State", el("span", { class: "state", id: "case-state", text: item.awaiting_second_reviewer ? "Awaiting a second reviewer" : STATES[item.state] || item.state })],
        ["Due", el("span", {}, date(item.due_at), item.overdue ? [" ", flag("overdue", "Overdue")] : null)],
        ["Origin", ORIGINS[item.origin] || item.origin],
        ["Received", date(item.received_at, true)],
        ["Claimed by", item.assigned_to || "nobody"],
        item.extension_reason ? ["Deadline extended", item.extension_reason] : null,
      ]),
      active
        ? el(
            "div",
            { class: "actions" },
            item.claimable ? el("button", { type: "button", class: "primary", id: "claim", text: "Claim this case", onclick: () => claim(item.case_id, false) }) : null,
            item.state === "assigned" ? el("button", { type: "button", id: "release", text: "Release to the queue", onclick: () => release(item.case_id) }) : null,
          )
        : null,
    ),
    el("h2", { text: "The decision" }),
    el(
      "div",
      { class: "card" },
      factsList([
        ["Automated outcome", `${d.outcome_label} (${d.outcome})`],
        d.score === null ? ["Decided by", "rules (no score)"] : ["Score", d.score.toFixed(3)],
        ["Model", `${d.model} v${d.model_version}, policy ${d.policy_version}`],
        ["Decided", date(d.created_at, true)],
        ["Significant", d.significant ? "yes (legal or similarly significant effect)" : "no"],
        ["Legal basis", d.legal_basis],
        d.review_reasons && d.review_reasons.length ? ["Held for review because", d.review_reasons.join(", ")] : null,
      ]),
    ),
    d.principal_reasons && d.principal_reasons.length
      ? [el("h2", { text: "Reasons given to the person" }), el("ol", { id: "principal-reasons" }, ...d.principal_reasons.map((r) => el("li", { text: r.display_value ? `${r.reason} (${r.display_value})` : r.reason })))]
      : null,
    d.rules ? rulesSection(d.rules) : shapSection(d, explanation),
    el("h2", { text: "What the person says" }),
    item.statement ? el("p", { class: "quoted", id: "statement", text: item.statement }) : el("p", { class: "hint", text: "No statement (the case was not opened by a contest)." }),
    el("h3", { text: "Corrections" }),
    item.corrections && Object.keys(item.corrections).length
      ? el(
          "table",
          { id: "corrections" },
          el("thead", {}, el("tr", {}, ...["Input", "Used in the decision", "Corrected by the person"].map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, ...Object.entries(item.corrections).map(([name, value]) => el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: valueText(d.features[name]) }), el("td", { text: valueText(value) })))),
        )
      : el("p", { class: "hint", text: "None." }),
    el("h2", { text: "Scored again" }),
    el("p", { class: "hint", text: "For your information only: the model never re-decides a case." }),
    el(
      "table",
      { id: "rescores" },
      el("thead", {}, el("tr", {}, ...["Model", "Version", "Score", "Outcome", "Inputs"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rescoreRow("The deciding version", item.rescore_deciding), rescoreRow("Today's champion", item.rescore_champion)),
    ),
    el("h2", { text: "Inputs" }),
    el(
      "table",
      { id: "inputs" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Input" }), el("th", { scope: "col", text: "Value" }), el("th", { scope: "col", class: "number", text: "Contribution" }))),
      el(
        "tbody",
        {},
        ...Object.entries(d.features).map(([name, value]) => {
          const index = (explanation.feature_names || []).indexOf(name);
          const shown = value !== null && typeof value === "object" ? JSON.stringify(value) : valueText(value);
          return el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: shown }), el("td", { class: "number", text: index >= 0 ? signed(explanation.values[index]) : "—" }));
        }),
      ),
    ),
    item.earlier_cases && item.earlier_cases.length
      ? [el("h2", { text: "Earlier cases on this decision's subject" }), el("ul", {}, ...item.earlier_cases.map((c) => el("li", {}, el("a", { href: `#case=${c.case_id}`, text: `Case ${c.case_id.slice(0, 8)}` }), ` — ${STATES[c.state] || c.state}${c.resolution ? `, ${c.resolution}` : ""}`)))]
      : null,
    outcomeSection(item),
  );
  document.getElementById("case-title").focus();
}

function outcomeSection(item) {
  if (item.state === "resolved") {
    return [
      el("h2", { text: "Resolution" }),
      el(
        "div",
        { class: "card", id: "resolution" },
        factsList([
          ["Resolution", item.resolution],
          ["Outcome", item.outcome],
          ["Human decision", item.human_decision_id || "—"],
        ]),
        el("h3", { text: "Rationale" }),
        el("p", { class: "quoted", text: item.rationale || "" }),
      ),
    ];
  }
  if (item.state === "withdrawn") return el("p", { class: "message", text: "The person withdrew this contest." });
  if (item.proposal) {
    const p = item.proposal;
    return [
      el("h2", { text: "Proposed resolution, awaiting a second reviewer" }),
      el(
        "div",
        { class: "card", id: "proposal" },
        el("p", { class: "note", role: "status", text: "The policy asks for a second reviewer here: another reviewer approves this resolution before it takes effect." }),
        factsList([
          ["Resolution", p.resolution],
          ["Outcome", p.outcome],
          ["Proposed by", p.proposed_by],
          ["Proposed", date(p.proposed_at, true)],
        ]),
        el("h3", { text: "Rationale" }),
        el("p", { class: "quoted", text: p.rationale }),
        el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "approve", text: "Approve (as a second reviewer)", onclick: () => approve(item.case_id) })),
      ),
    ];
  }
  if (item.state !== "assigned") return el("p", { class: "hint", text: "Claim the case to resolve it." });
  return resolutionForm(item);
}

function resolutionForm(item) {
  const d = item.decision;
  const radios = Object.entries(RESOLUTIONS).map(([value, text]) =>
    el("label", { class: "radio" }, el("input", { type: "radio", name: "resolution", value, "data-field": value === "uphold" ? "resolution" : null, checked: value === "uphold" }), text),
  );
  return [
    el("h2", { id: "resolve-heading", text: "Resolve" }),
    el(
      "form",
      { id: "resolve-form", novalidate: true, "aria-labelledby": "resolve-heading", onsubmit: (event) => resolve(event, item.case_id) },
      el("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: true }),
      el(
        "fieldset",
        { "aria-describedby": "field-resolution-error" },
        el("legend", { text: "Resolution" }),
        ...radios,
        el("p", { class: "field-error", id: "field-resolution-error", "data-error-for": "resolution", hidden: true }),
      ),
      el(
        "div",
        { class: "field" },
        el("label", { for: "field-outcome", text: "Outcome" }),
        el("p", { class: "hint", id: "field-outcome-hint", text: `The automated outcome was ${d.outcome}. Upholding keeps it.` }),
        el(
          "select",
          { id: "field-outcome", name: "outcome", "data-field": "outcome", "aria-describedby": "field-outcome-hint field-outcome-error" },
          ...d.allowed_outcomes.map((o) => el("option", { value: o, selected: o === d.outcome, text: o === d.outcome ? `${o} (automated)` : o })),
        ),
        el("p", { class: "field-error", id: "field-outcome-error", "data-error-for": "outcome", hidden: true }),
      ),
      el(
        "div",
        { class: "field" },
        el("label", { for: "field-rationale", text: "Rationale (required)" }),
        el("p", { class: "hint", id: "field-rationale-hint", text: "Your reasons, in words the person understands: they are shown to them." }),
        el("textarea", { id: "field-rationale", name: "rationale", rows: "6", maxlength: "5000", "data-field": "rationale", "aria-describedby": "field-rationale-hint field-rationale-error" }),
        el("p", { class: "field-error", id: "field-rationale-error", "data-error-for": "rationale", hidden: true }),
      ),
      el("button", { type: "submit", class: "primary", id: "resolve-submit", text: "Record the resolution" }),
    ),
  ];
}

async function resolve(event, caseId) {
  event.preventDefault();
  const form = event.currentTarget;
  const resolution = form.querySelector("input[name=resolution]:checked").value;
  const body = { resolution, rationale: form.querySelector("#field-rationale").value };
  if (resolution !== "uphold") body.outcome = form.querySelector("#field-outcome").value;
  const button = form.querySelector("#resolve-submit");
  clearErrors(form);
  button.disabled = true;
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/resolve`, { credential: state.key, body });
  } catch (error) {
    button.disabled = false;
    const problem = error instanceof ApiError ? error : new ApiError(0, { detail: "The resolution was not recorded." });
    return showErrors(form, problem, { fields: "Please correct the fields marked below.", refused: "The resolution was not recorded:" });
  }
  await renderCase(caseId);
}

async function release(caseId) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/release`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError ? error.message : "The release failed.");
  }
  window.location.hash = "queue";
}

async function approve(caseId) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/approve`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError ? error.message : "The approval failed.");
  }
  await renderCase(caseId);
}

// --- reviewer metrics ------------------------------------------------------------------------

async function renderMetrics() {
  document.title = "Reviewer metrics — glassbox review";
  const heading = el("h1", { text: "Reviewer metrics" });
  let stats;
  try {
    stats = await call("GET", "/v1/audit/reviewers", { credential: state.key });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      return show(main(), heading, message("Reviewer metrics are open to auditors and admins only; this key cannot read them.", "error"));
    }
    throw error;
  }
  show(
    main(),
    heading,
    el("p", { class: "hint", text: "Per reviewer and model. A reviewer who upholds nearly everything, quickly, may be rubber-stamping." }),
    stats.length
      ? el(
          "table",
          { id: "metrics" },
          el("thead", {}, el("tr", {}, ...["Reviewer", "Model", "Cases resolved", "Upheld", "Overturned", "Amended", "Median time to resolve"].map((h, i) => el("th", { scope: "col", class: i >= 2 ? "number" : null, text: h })))),
          el(
            "tbody",
            {},
            ...stats.map((s) =>
              el(
                "tr",
                {},
                el("th", { scope: "row", text: s.reviewer_name || s.reviewer_key_id }),
                el("td", { text: s.model }),
                el("td", { class: "number", text: String(s.cases_resolved) }),
                el("td", { class: "number", text: percent(s.agreement_rate) }),
                el("td", { class: "number", text: percent(s.overturn_rate) }),
                el("td", { class: "number", text: percent(s.amend_rate) }),
                el("td", { class: "number", text: s.median_seconds_to_resolve === null ? "—" : duration(s.median_seconds_to_resolve) }),
              ),
            ),
          ),
        )
      : message("No case has been resolved yet."),
  );
}

function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

// --- routing ---------------------------------------------------------------------------------

async function renderRoute() {
  renderNav();
  if (!state.key) return renderSignIn();
  const where = route();
  try {
    if (where.view === "case") await renderCase(where.id);
    else if (where.view === "metrics") await renderMetrics();
    else await renderQueue();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut();
    show(main(), message(error instanceof ApiError ? error.message : "Something went wrong.", "error"));
  }
}

async function start() {
  state.key = sessionStorage.getItem(KEY);
  if (state.key) {
    try {
      if (!(await discover())) {
        sessionStorage.removeItem(KEY);
        state.key = null;
      }
    } catch {
      // Unreachable for now: the route's own call will say so.
    }
  }
  window.addEventListener("hashchange", renderRoute);
  await renderRoute();
}

start();
