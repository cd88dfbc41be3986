// The reviewers' console: the queue, one case with everything about it, the resolution, and
// the reviewer metrics (for keys that may read them).
//
// The reviewer signs in by pasting their API key. It is kept in sessionStorage (this tab only)
// and sent in the Authorization header; it never goes in a cookie or in the address bar. The
// route lives in the fragment: #queue, #case=<id>, #metrics; the language in the address
// (?lang=es), else the browser's, and the switch in the header changes it. No cookie, no storage
// for the language.

import { ApiError, call, useLanguage } from "./api.js";
import { contributionChart, signed } from "./chart.js";
import { clear, el, flag, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { detectLocale, keepLocaleInAddress, localeSwitch } from "./i18n.js";
import { reviewText } from "./review_text.js";

const KEY = "glassbox.review.key";
// outcomeLabels: the open case's outcomes in both languages ({outcome: {en, es}}).
const state = { key: null, canQueue: false, canMetrics: false, locale: "en", outcomeLabels: {} };
const main = () => document.getElementById("main");
const t = () => reviewText(state.locale);

function date(value, withTime = false) {
  if (!value) return "—";
  const options = { dateStyle: "medium", timeZone: "UTC" };
  if (withTime) options.timeStyle = "short";
  const tag = state.locale === "es" ? "es-ES" : "en-GB";
  return `${new Intl.DateTimeFormat(tag, options).format(new Date(value))}${withTime ? " UTC" : ""}`;
}

/** A text the service gave in both languages ({en, es}), in the console's. */
function both(text) {
  if (!text) return "";
  return typeof text === "string" ? text : text[state.locale] || text.en || "";
}

function setLanguage(locale) {
  state.locale = locale;
  useLanguage(locale);
  const s = t();
  document.documentElement.lang = locale;
  document.getElementById("brand-name").textContent = s.brand;
  document.getElementById("nav").setAttribute("aria-label", s.consoleNav);
  localeSwitch(document.getElementById("locale-switch"), { current: locale, label: s.languages, onPick: switchLocale });
}

async function switchLocale(locale) {
  if (locale === state.locale) return;
  keepLocaleInAddress(locale);
  setLanguage(locale);
  await renderRoute();
  // The switch was rebuilt in the new language: keep the keyboard where it was.
  const pressed = document.querySelector(`#locale-switch button[lang="${locale}"]`);
  if (pressed) pressed.focus();
}

/** An outcome of the open case in the console's language, with its code. */
function outcomeWords(outcome) {
  const label = state.outcomeLabels[outcome];
  return label && label[state.locale] ? `${label[state.locale]} (${outcome})` : outcome;
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
  const s = t();
  show(
    nav,
    state.canQueue ? link("#queue", s.queue, "queue") : null,
    state.canMetrics ? link("#metrics", s.metricsLink, "metrics") : null,
    el("button", { type: "button", class: "link-button", id: "sign-out", text: s.signOut, onclick: signOut }),
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
  const s = t();
  const form = el(
    "form",
    { id: "sign-in", novalidate: true, onsubmit: signIn },
    el("div", { class: "form-errors", id: "sign-in-errors", role: "alert", tabindex: "-1", hidden: !problem }, problem ? el("p", { text: problem }) : null),
    el(
      "div",
      { class: "field" },
      el("label", { for: "field-key", text: s.keyLabel }),
      el("p", { class: "hint", id: "field-key-hint", text: s.keyHint }),
      el("input", { id: "field-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": "field-key-hint", "data-field": "key" }),
    ),
    el("button", { type: "submit", class: "primary", text: s.signIn }),
  );
  show(main(), el("h1", { text: s.signInHeading }), form);
  document.title = s.title(s.signInTitle);
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
  if (!key) return renderSignIn(t().pasteKey);
  state.key = key;
  let valid;
  try {
    valid = await discover();
  } catch {
    state.key = null;
    return renderSignIn(t().unreachable);
  }
  if (!valid || (!state.canQueue && !state.canMetrics)) {
    state.key = null;
    return renderSignIn(valid ? t().keyOpensNothing : t().keyInvalid);
  }
  sessionStorage.setItem(KEY, key);
  if (!state.canQueue && route().view === "queue") window.location.hash = "metrics";
  else renderRoute();
}

// --- the queue -------------------------------------------------------------------------------

async function renderQueue() {
  const s = t();
  document.title = s.title(s.queue);
  if (!state.canQueue) return show(main(), el("h1", { text: s.queueHeading }), message(s.notReviewerQueue, "error"));
  const cases = await call("GET", "/v1/reviews/cases", { credential: state.key, query: { limit: "500" } });
  // By due date, earliest first: the overdue ones come first because their date has passed.
  cases.sort((a, b) => new Date(a.due_at) - new Date(b.due_at) || a.case_id.localeCompare(b.case_id));
  const overdue = cases.filter((c) => c.overdue).length;
  const rows = cases.map((c) =>
    el(
      "tr",
      { class: c.overdue ? "overdue" : null, "data-case": c.case_id },
      el("td", {}, date(c.due_at), c.overdue ? [" ", flag("overdue", s.overdue)] : null),
      el("td", {}, el("a", { href: `#case=${c.case_id}`, text: s.caseName(c.case_id.slice(0, 8)) })),
      el("td", { text: c.model }),
      el("td", { text: s.origins[c.origin] || c.origin }),
      el("td", { text: c.awaiting_second_reviewer ? s.awaitingSecond : s.states[c.state] || c.state }),
      el("td", { text: date(c.received_at) }),
      el(
        "td",
        {},
        c.claimable
          ? el("button", { type: "button", class: "claim", "aria-label": s.claimCase(c.case_id.slice(0, 8)), text: s.claim, onclick: () => claim(c.case_id, true) })
          : el("span", { class: "hint", text: c.assigned_to ? s.claimed : "—" }),
      ),
    ),
  );
  show(
    main(),
    el("h1", { text: s.queueHeading }),
    el("p", { class: "hint", id: "queue-summary", text: s.queueSummary(cases.length, overdue) }),
    cases.length
      ? el(
          "table",
          { id: "queue" },
          el("caption", { class: "visually-hidden", text: s.queueCaption }),
          el("thead", {}, el("tr", {}, ...s.queueColumns.map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, ...rows),
        )
      : message(s.queueEmpty),
  );
}

async function claim(caseId, open) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/claim`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError && error.problem ? inLanguage(error, t().claimFailed).message : t().claimFailed);
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
  const s = t();
  if (!rescore) return el("tr", {}, el("th", { scope: "row", text: title }), el("td", { colspan: "4", text: s.notAvailable }));
  return el(
    "tr",
    {},
    el("th", { scope: "row", text: title }),
    el("td", { class: "number", text: `v${rescore.model_version}` }),
    el("td", { class: "number", text: rescore.score === null ? (rescore.rules_fired && rescore.rules_fired.length ? rescore.rules_fired.join(", ") : s.noRuleFires) : rescore.score.toFixed(3) }),
    el("td", { text: outcomeWords(rescore.outcome) }),
    el("td", { text: rescore.corrected ? s.withCorrections : s.asDecided }),
  );
}

/** A decision by rules: the rules that fired with the person's values, and the nearest change. */
function rulesSection(rules) {
  const s = t();
  return [
    el("h2", { text: s.rulesFiredHeading }),
    (rules.fired || []).length
      ? el(
          "table",
          { id: "rules-fired" },
          el("thead", {}, el("tr", {}, ...s.rulesColumns.map((h) => el("th", { scope: "col", text: h })))),
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
                  el("td", { text: `${both(c.display_value)}${c.compared !== c.person_value ? ` (${valueText(c.compared)})` : ""}` }),
                ),
              ),
            ),
          ),
        )
      : el("p", { id: "rules-default", text: s.noRuleFired(rules.default_reason ? both(rules.default_reason) : rules.outcome) }),
    rules.nearest_change ? el("p", { id: "nearest-change", text: both(rules.nearest_change.text) }) : null,
  ];
}

function shapSection(d, explanation) {
  const s = t();
  return [
    el("h2", { text: s.shapHeading }),
    el("p", { class: "hint", id: "additivity" }, s.additivity(valueText(explanation.base_value), valueText(explanation.margin), valueText(explanation.score))),
    el(
      "figure",
      { class: "chart-frame" },
      contributionChart(allContributions(d), {
        id: "shap-chart",
        title: s.shapChartTitle,
        raises: s.raises,
        lowers: s.lowers,
        axisRaises: s.axisRaises,
        axisLowers: s.axisLowers,
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

/** The role the model played in the decision, as the person is told it, in the console's
 * language: the sentence, the model's purpose and logic, and the inputs it weighs. */
function roleSection(role) {
  if (!role) return null;
  const s = t();
  const parameters = role.parameters || [];
  return [
    el("h2", { id: "role-heading", text: s.roleHeading }),
    el(
      "div",
      { class: "card", id: "role" },
      el("p", { id: "role-sentence", text: both(role.sentence) }),
      factsList([
        role.purpose ? [s.purpose, both(role.purpose)] : null,
        role.logic ? [s.logic, both(role.logic)] : null,
        parameters.length ? [s.parameters, parameters.map((p) => both(p.label)).join(", ")] : null,
      ]),
    ),
  ];
}

/** What would have changed the outcome, as frozen with the decision and shown to the person:
 * each change beside the value the decision used, its score and outcome on the deciding version. */
function counterfactualSection(d) {
  const s = t();
  const items = d.counterfactuals || [];
  if (!items.length) return null;
  return [
    el("h2", { id: "counterfactuals-heading", text: s.counterfactualsHeading }),
    el("p", { class: "hint", text: s.counterfactualsHint }),
    el(
      "table",
      { id: "counterfactuals", "aria-labelledby": "counterfactuals-heading" },
      el("thead", {}, el("tr", {}, ...s.counterfactualColumns.map((h) => el("th", { scope: "col", text: h })))),
      el(
        "tbody",
        {},
        ...items.map((c) =>
          el(
            "tr",
            {},
            el("th", { scope: "row", text: Object.entries(c.changes || {}).map(([name, value]) => `${name}: ${valueText(d.features[name])} → ${valueText(value)}`).join("; ") }),
            el("td", { class: "number", text: typeof c.score === "number" ? c.score.toFixed(3) : "—" }),
            el("td", { text: c.outcome_label ? `${c.outcome_label} (${c.outcome})` : c.outcome }),
            el("td", { text: c.sentence || "" }),
          ),
        ),
      ),
    ),
  ];
}

async function renderCase(caseId) {
  const s = t();
  if (!state.canQueue) return show(main(), message(s.notReviewerKey, "error"));
  let item;
  try {
    item = await call("GET", `/v1/reviews/cases/${caseId}`, { credential: state.key });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      return show(main(), el("h1", { text: s.caseNotFound }), el("p", {}, el("a", { href: "#queue", text: s.backToQueue })));
    }
    throw error;
  }
  const d = item.decision;
  state.outcomeLabels = d.outcome_labels || {};
  const short = item.case_id.slice(0, 8);
  document.title = s.title(s.caseName(short));
  const explanation = d.explanation || {};
  const active = item.state === "open" || item.state === "assigned";
  const reasons = (d.review_reasons || []).map((r) => s.reviewReasons[r] || r);
  show(
    main(),
    el("p", {}, el("a", { href: "#queue", text: s.backToQueueArrow })),
    el("h1", { id: "case-title", tabindex: "-1", text: s.caseName(short) }),
    el(
      "div",
      { class: "card" },
      factsList([
        [s.facts.state, el("span", { class: "state", id: "case-state", text: item.awaiting_second_reviewer ? s.awaitingSecond : s.states[item.state] || item.state })],
        [s.facts.due, el("span", {}, date(item.due_at), item.overdue ? [" ", flag("overdue", s.overdue)] : null)],
        [s.facts.origin, s.origins[item.origin] || item.origin],
        [s.facts.received, date(item.received_at, true)],
        [s.facts.claimedBy, item.assigned_to || s.nobody],
        item.extension_reason ? [s.facts.extended, item.extension_reason] : null,
      ]),
      active
        ? el(
            "div",
            { class: "actions" },
            item.claimable ? el("button", { type: "button", class: "primary", id: "claim", text: s.claimThis, onclick: () => claim(item.case_id, false) }) : null,
            item.state === "assigned" ? el("button", { type: "button", id: "release", text: s.release, onclick: () => release(item.case_id) }) : null,
          )
        : null,
    ),
    el("h2", { text: s.decisionHeading }),
    el(
      "div",
      { class: "card" },
      factsList([
        [s.automatedOutcome, `${d.outcome_label} (${d.outcome})`],
        d.score === null ? [s.decidedBy, s.byRules] : [s.score, d.score.toFixed(3)],
        [s.model, s.modelVersion(d.model, d.model_version, d.policy_version)],
        [s.decided, date(d.created_at, true)],
        [s.significant, d.significant ? s.significantYes : s.no],
        [s.legalBasis, s.legalBases[d.legal_basis] || d.legal_basis],
        reasons.length ? [s.heldBecause, reasons.join("; ")] : null,
      ]),
    ),
    roleSection(d.role),
    d.principal_reasons && d.principal_reasons.length
      ? [el("h2", { text: s.reasonsGiven }), el("ol", { id: "principal-reasons" }, ...d.principal_reasons.map((r) => el("li", { text: r.display_value ? `${r.reason} (${r.display_value})` : r.reason })))]
      : null,
    d.rules ? rulesSection(d.rules) : shapSection(d, explanation),
    counterfactualSection(d),
    el("h2", { text: s.personSays }),
    item.statement ? el("p", { class: "quoted", id: "statement", text: item.statement }) : el("p", { class: "hint", text: s.noStatement }),
    el("h3", { text: s.correctionsHeading }),
    item.corrections && Object.keys(item.corrections).length
      ? el(
          "table",
          { id: "corrections" },
          el("thead", {}, el("tr", {}, ...s.correctionsColumns.map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, ...Object.entries(item.corrections).map(([name, value]) => el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: valueText(d.features[name]) }), el("td", { text: valueText(value) })))),
        )
      : el("p", { class: "hint", text: s.none }),
    el("h2", { text: s.rescoredHeading }),
    el("p", { class: "hint", text: s.rescoredHint }),
    el(
      "table",
      { id: "rescores" },
      el("thead", {}, el("tr", {}, ...s.rescoreColumns.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rescoreRow(s.decidingVersion, item.rescore_deciding), rescoreRow(s.champion, item.rescore_champion)),
    ),
    el("h2", { text: s.inputsHeading }),
    el(
      "table",
      { id: "inputs" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: s.inputsColumns[0] }), el("th", { scope: "col", text: s.inputsColumns[1] }), el("th", { scope: "col", class: "number", text: s.inputsColumns[2] }))),
      el(
        "tbody",
        {},
        ...Object.entries(d.features).map(([name, value]) => {
          const index = (explanation.feature_names || []).indexOf(name);
          const shown = value !== null && typeof value === "object" ? JSON.stringify(value) : valueText(value);
          // Art. 16: an input the person rectified since the decision, with the value it used.
          const fixed = (d.rectified || []).find((r) => r.feature === name);
          return el(
            "tr",
            { "data-feature": name },
            el("th", { scope: "row", text: name }),
            el("td", {}, shown, fixed ? [" ", el("span", { class: "hint rectified", text: s.rectifiedInput(date(fixed.rectified_at), valueText(fixed.previous_value)) })] : null),
            el("td", { class: "number", text: index >= 0 ? signed(explanation.values[index]) : "—" }),
          );
        }),
      ),
    ),
    item.earlier_cases && item.earlier_cases.length
      ? [
          el("h2", { text: s.earlierCases }),
          el("ul", {}, ...item.earlier_cases.map((c) => el("li", {}, el("a", { href: `#case=${c.case_id}`, text: s.caseName(c.case_id.slice(0, 8)) }), ` — ${s.states[c.state] || c.state}${c.resolution ? `, ${s.resolutionNames[c.resolution] || c.resolution}` : ""}`))),
        ]
      : null,
    outcomeSection(item),
  );
  document.getElementById("case-title").focus();
}

function outcomeSection(item) {
  const s = t();
  if (item.state === "resolved") {
    return [
      el("h2", { text: s.resolutionHeading }),
      el(
        "div",
        { class: "card", id: "resolution" },
        factsList([
          [s.resolutionHeading, s.resolutionNames[item.resolution] || item.resolution],
          [s.outcome, outcomeWords(item.outcome)],
          [s.humanDecision, item.human_decision_id || "—"],
        ]),
        el("h3", { text: s.rationale }),
        el("p", { class: "quoted", text: item.rationale || "" }),
      ),
    ];
  }
  if (item.state === "withdrawn") return el("p", { class: "message", text: s.withdrawn });
  if (item.proposal) {
    const p = item.proposal;
    return [
      el("h2", { text: s.proposalHeading }),
      el(
        "div",
        { class: "card", id: "proposal" },
        el("p", { class: "note", role: "status", text: s.proposalNote }),
        factsList([
          [s.resolutionHeading, s.resolutionNames[p.resolution] || p.resolution],
          [s.outcome, outcomeWords(p.outcome)],
          [s.proposedBy, p.proposed_by],
          [s.proposedAt, date(p.proposed_at, true)],
        ]),
        el("h3", { text: s.rationale }),
        el("p", { class: "quoted", text: p.rationale }),
        el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "approve", text: s.approve, onclick: () => approve(item.case_id) })),
      ),
    ];
  }
  if (item.state !== "assigned") return el("p", { class: "hint", text: s.claimToResolve });
  return resolutionForm(item);
}

function resolutionForm(item) {
  const s = t();
  const d = item.decision;
  const radios = Object.entries(s.resolutionChoices).map(([value, text]) =>
    el("label", { class: "radio" }, el("input", { type: "radio", name: "resolution", value, "data-field": value === "uphold" ? "resolution" : null, checked: value === "uphold" }), text),
  );
  return [
    el("h2", { id: "resolve-heading", text: s.resolveHeading }),
    el(
      "form",
      { id: "resolve-form", novalidate: true, "aria-labelledby": "resolve-heading", onsubmit: (event) => resolve(event, item.case_id) },
      el("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: true }),
      el(
        "fieldset",
        { "aria-describedby": "field-resolution-error" },
        el("legend", { text: s.resolutionHeading }),
        ...radios,
        el("p", { class: "field-error", id: "field-resolution-error", "data-error-for": "resolution", hidden: true }),
      ),
      el(
        "div",
        { class: "field" },
        el("label", { for: "field-outcome", text: s.outcome }),
        el("p", { class: "hint", id: "field-outcome-hint", text: s.outcomeHint(d.outcome) }),
        el(
          "select",
          { id: "field-outcome", name: "outcome", "data-field": "outcome", "aria-describedby": "field-outcome-hint field-outcome-error" },
          ...d.allowed_outcomes.map((o) => el("option", { value: o, selected: o === d.outcome, text: o === d.outcome ? s.automatedTag(outcomeWords(o)) : outcomeWords(o) })),
        ),
        el("p", { class: "field-error", id: "field-outcome-error", "data-error-for": "outcome", hidden: true }),
      ),
      el(
        "div",
        { class: "field" },
        el("label", { for: "field-rationale", text: s.rationaleLabel }),
        el("p", { class: "hint", id: "field-rationale-hint", text: s.rationaleHint }),
        el("textarea", { id: "field-rationale", name: "rationale", rows: "6", maxlength: "5000", "data-field": "rationale", "aria-describedby": "field-rationale-hint field-rationale-error" }),
        el("p", { class: "field-error", id: "field-rationale-error", "data-error-for": "rationale", hidden: true }),
      ),
      el("button", { type: "submit", class: "primary", id: "resolve-submit", text: s.recordResolution }),
    ),
  ];
}

/** The problem as the console shows it: the service's words when they are in the console's
 * language, else each field's error in the console's own words (never another language). */
function inLanguage(error, detail = t().failed) {
  if (state.locale === "en" || error.language === state.locale) return error;
  const problem = { ...(error.problem || {}), title: detail, detail, errors: error.errors.map((e) => ({ ...e, message: t().fieldInvalid })) };
  return new ApiError(error.status, problem, state.locale);
}

async function resolve(event, caseId) {
  event.preventDefault();
  const s = t();
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
    const problem = error instanceof ApiError ? inLanguage(error, s.notRecorded) : new ApiError(0, { detail: s.notRecorded });
    return showErrors(form, problem, { fields: s.fieldsIntro, refused: s.refusedIntro });
  }
  await renderCase(caseId);
}

async function release(caseId) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/release`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError && error.problem ? inLanguage(error, t().releaseFailed).message : t().releaseFailed);
  }
  window.location.hash = "queue";
}

async function approve(caseId) {
  try {
    await call("POST", `/v1/reviews/cases/${caseId}/approve`, { credential: state.key });
  } catch (error) {
    return showBanner(error instanceof ApiError && error.problem ? inLanguage(error, t().approvalFailed).message : t().approvalFailed);
  }
  await renderCase(caseId);
}

// --- reviewer metrics ------------------------------------------------------------------------

async function renderMetrics() {
  const s = t();
  document.title = s.title(s.metricsHeading);
  const heading = el("h1", { text: s.metricsHeading });
  let stats;
  try {
    stats = await call("GET", "/v1/audit/reviewers", { credential: state.key });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      return show(main(), heading, message(s.metricsDenied, "error"));
    }
    throw error;
  }
  show(
    main(),
    heading,
    el("p", { class: "hint", text: s.metricsHint }),
    stats.length
      ? el(
          "table",
          { id: "metrics" },
          el("thead", {}, el("tr", {}, ...s.metricsColumns.map((h, i) => el("th", { scope: "col", class: i >= 2 ? "number" : null, text: h })))),
          el(
            "tbody",
            {},
            ...stats.map((row) =>
              el(
                "tr",
                {},
                el("th", { scope: "row", text: row.reviewer_name || row.reviewer_key_id }),
                el("td", { text: row.model }),
                el("td", { class: "number", text: String(row.cases_resolved) }),
                el("td", { class: "number", text: percent(row.agreement_rate) }),
                el("td", { class: "number", text: percent(row.overturn_rate) }),
                el("td", { class: "number", text: percent(row.amend_rate) }),
                el("td", { class: "number", text: row.median_seconds_to_resolve === null ? "—" : duration(row.median_seconds_to_resolve) }),
              ),
            ),
          ),
        )
      : message(s.metricsEmpty),
  );
}

function duration(seconds) {
  const units = t().units;
  const number = (value, digits) => new Intl.NumberFormat(state.locale === "es" ? "es-ES" : "en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
  if (seconds < 90) return `${Math.round(seconds)} ${units.seconds}`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} ${units.minutes}`;
  if (seconds < 172800) return `${number(seconds / 3600, 1)} ${units.hours}`;
  return `${number(seconds / 86400, 1)} ${units.days}`;
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
    show(main(), message(error instanceof ApiError && error.problem ? inLanguage(error).message : t().failed, "error"));
  }
}

async function start() {
  setLanguage(detectLocale());
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
