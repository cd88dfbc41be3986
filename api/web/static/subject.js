// The person's page: one decision, its reasons, the contest form and the case.
//
// The link in the notice is /subject/#decision=<id>&token=<token>. The fragment never reaches a
// server; the token is moved into sessionStorage (this tab only) and out of the address bar at
// once, then sent in the Authorization header. No cookie is involved anywhere.

import { ApiError, call } from "./api.js";
import { contributionChart } from "./chart.js";
import { el, flag, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { LOCALES, formatDate, strings } from "./i18n.js";

const TOKEN_KEY = "glassbox.subject.token";
const LOCALE_KEY = "glassbox.subject.locale";

const state = {
  decisionId: null,
  token: null,
  locale: null,
  decision: null,
  case: null,
  casesAvailable: true,
  // The person's rights, on every decision's page: their decisions, standing choices, requests.
  decisions: [],
  rights: null,
  erasure: null,
  notice: null,
};

const main = () => document.getElementById("main");

function t() {
  return strings(state.locale || "en");
}

function readLink() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    // Out of the address bar, the history and any bookmark or screenshot of it.
    const rest = params.toString();
    history.replaceState(null, "", `${window.location.pathname}${window.location.search}${rest ? `#${rest}` : ""}`);
  }
  state.decisionId = params.get("decision");
  state.token = sessionStorage.getItem(TOKEN_KEY);
  const chosen = sessionStorage.getItem(LOCALE_KEY);
  state.locale = LOCALES.includes(chosen) ? chosen : null;
}

function setLanguage(locale) {
  document.documentElement.lang = locale;
  document.title = `${t().pageTitle} — glassbox`;
  const nav = document.getElementById("locale-switch");
  nav.setAttribute("aria-label", t().languages);
  show(
    nav,
    ...LOCALES.map((code) =>
      el("button", {
        type: "button",
        class: "locale",
        lang: code,
        "aria-pressed": code === locale ? "true" : "false",
        text: code === "en" ? "English" : "Español",
        onclick: () => switchLocale(code),
      }),
    ),
  );
}

async function switchLocale(locale) {
  if (locale === state.locale) return;
  sessionStorage.setItem(LOCALE_KEY, locale);
  state.locale = locale;
  await load();
  // The switch was rebuilt in the new language: keep the keyboard where it was.
  const pressed = document.querySelector(`#locale-switch button[lang="${locale}"]`);
  if (pressed) pressed.focus();
}

function message(text, kind = "info") {
  show(main(), el("p", { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status", text }));
}

async function load() {
  if (!state.decisionId || !/^[0-9a-f]{32}$/.test(state.decisionId)) {
    setLanguage(state.locale || "en");
    return message(t().noLink, "error");
  }
  if (!state.token) {
    setLanguage(state.locale || "en");
    return message(t().noToken, "error");
  }
  try {
    const query = state.locale ? { locale: state.locale } : undefined;
    state.decision = await call("GET", `/v1/me/decisions/${state.decisionId}`, { credential: state.token, query });
    state.locale = state.decision.locale;
    state.case = await loadCase();
    [state.decisions, state.rights] = await Promise.all([
      call("GET", "/v1/me/decisions", { credential: state.token }),
      call("GET", "/v1/me/rights", { credential: state.token }),
    ]);
  } catch (error) {
    setLanguage(state.locale || "en");
    if (error instanceof ApiError && error.status === 401) return message(t().unauthorised, "error");
    if (error instanceof ApiError && error.status === 404) return message(t().notFound, "error");
    return message(t().failed, "error");
  }
  setLanguage(state.locale);
  render();
}

async function loadCase() {
  if (!state.casesAvailable) return null;
  try {
    const cases = await call("GET", "/v1/me/cases", { credential: state.token });
    return cases.find((item) => item.decision_id === state.decisionId) || null;
  } catch (error) {
    // A service without the review queue: the page still explains the decision.
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      state.casesAvailable = false;
      return null;
    }
    throw error;
  }
}

function outcomeLabel(outcome) {
  return (state.decision.outcome_labels && state.decision.outcome_labels[outcome]) || outcome;
}

function render() {
  const d = state.decision;
  const s = t();
  const resolved = state.case && state.case.state === "resolved";
  // Art. 22: an outcome a person must review first has not taken effect; say who decides and
  // by when (the review case's due date), never show it as the outcome.
  const pending = d.review_required && d.decided_by !== "human" && !resolved;
  const due = pending && state.case && ["open", "assigned"].includes(state.case.state) ? state.case.due_at : null;
  const sections = [
    el("h1", { text: s.pageTitle }),
    el(
      "section",
      { class: "card outcome", "aria-labelledby": "outcome-heading" },
      el("h2", { id: "outcome-heading", class: "visually-hidden", text: s.outcome }),
      el(
        "dl",
        { class: "facts" },
        el("dt", { text: resolved ? s.humanOutcome : pending ? s.proposedOutcome : s.outcome }),
        el("dd", { class: "outcome-label", id: "outcome", text: resolved ? outcomeLabel(state.case.outcome) : d.outcome_label }),
        resolved ? [el("dt", { text: s.previousOutcome }), el("dd", { id: "previous-outcome", text: d.outcome_label })] : null,
        el("dt", { text: s.decidedOn }),
        el("dd", { text: formatDate(d.created_at, state.locale, true) }),
        el("dt", { text: s.model }),
        el("dd", { text: `${d.model.name} (v${d.model.version})` }),
        // A decision by rules has no score: its rules are shown below.
        d.score === null || d.score === undefined
          ? null
          : [el("dt", { text: s.score }), el("dd", {}, `${d.score.toFixed(2)} `, el("span", { class: "hint", text: `(${s.scoreHint})` }))],
      ),
      d.human_review
        ? [
            el("p", { class: "resolution", id: "human-review", text: `${s.humanDecision} ${s.resolutions[d.human_review.resolution] || ""}` }),
            el("h3", { text: s.reasons }),
            el("p", { class: "quoted", text: d.human_review.rationale }),
          ]
        : null,
      d.significant ? el("p", { class: "note", text: s.significant }) : null,
      pending
        ? el("p", { class: "note", id: "pending-review", text: due ? s.personDecidesBy(formatDate(due, state.locale)) : s.humanFirst })
        : null,
    ),
    state.case ? caseSection(state.case) : null,
    el("section", { "aria-labelledby": "notice-heading" }, el("h2", { id: "notice-heading", text: s.noticeHeading }), el("p", { class: "notice", text: d.notice })),
    // A decision by rules gives its reasons with the rules that fired, below.
    d.principal_reasons && d.principal_reasons.length && !d.rules ? reasonsSection(d.principal_reasons) : null,
    d.rules ? rulesSection(d.rules) : d.items ? itemsSection(d) : factorsSection(d.factors, d.score_meaning),
    dataSection(d.data_used),
    // A person's own decision is not contested again (the service refuses it); nor is one under
    // review already.
    d.decided_by !== "human" && (!state.case || state.case.state === "withdrawn") ? contestSection(d) : null,
    rightsSection(),
  ];
  show(main(), ...sections);
}

// --- the person's rights ---------------------------------------------------------------------

/** Every right on the page: the decisions about the person, a copy of their data, objection,
 * restriction, erasure (with a second, explicit confirmation) and their requests. */
function rightsSection() {
  const s = t();
  return el(
    "section",
    { "aria-labelledby": "rights-heading", id: "rights" },
    el("h2", { id: "rights-heading", tabindex: "-1", text: s.rightsHeading }),
    el("p", { class: "hint", text: s.rightsIntro }),
    state.notice ? el("p", { class: "message message-info", role: "status", id: "rights-status", text: state.notice }) : null,
    decisionsList(),
    el(
      "div",
      { class: "card" },
      el("h3", { text: s.exportHeading }),
      el("p", { class: "hint", text: s.exportIntro }),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", id: "export-json", text: s.downloadJson, onclick: (event) => download(event, "/v1/me/export", "glassbox-export.json") }),
        el("button", { type: "button", id: "export-csv", text: s.downloadCsv, onclick: (event) => download(event, "/v1/me/export.csv", "glassbox-export.csv") }),
      ),
    ),
    standingCard("objection", s.objectionHeading, s.objectionIntro, state.rights && state.rights.objected_at, s.objectedSince, s.notObjected, s.object, s.withdrawObjection),
    standingCard("restriction", s.restrictionHeading, s.restrictionIntro, state.rights && state.rights.restricted_at, s.restrictedSince, s.notRestricted, s.restrict, s.liftRestriction),
    erasureCard(),
    requestsTable(),
  );
}

function decisionsList() {
  const s = t();
  return el(
    "div",
    { class: "card" },
    el("h3", { text: s.myDecisions }),
    el(
      "ul",
      { id: "my-decisions" },
      ...state.decisions.map((item) => {
        const label = `${formatDate(item.created_at, state.locale, true)} — ${item.model.name}: ${item.outcome}${item.decided_by === "human" ? ` (${s.humanDecided})` : ""}`;
        return el(
          "li",
          {},
          item.id === state.decisionId
            ? el("span", { "aria-current": "page", text: `${label} (${s.thisDecision})` })
            : el("a", { href: `#decision=${item.id}`, text: label }),
        );
      }),
    ),
  );
}

function standingCard(kind, heading, intro, since, sinceText, notText, setText, unsetText) {
  return el(
    "div",
    { class: "card", id: `${kind}-card` },
    el("h3", { text: heading }),
    el("p", { class: "hint", text: intro }),
    el("p", { id: `${kind}-state`, text: since ? sinceText(formatDate(since, state.locale)) : notText }),
    el("button", {
      type: "button",
      id: `${kind}-toggle`,
      text: since ? unsetText : setText,
      onclick: (event) => changeStanding(event, kind, since ? "DELETE" : "POST"),
    }),
  );
}

function erasureCard() {
  const s = t();
  const result = state.erasure;
  return el(
    "div",
    { class: "card", id: "erasure-card" },
    el("h3", { text: s.erasureHeading }),
    el("p", { class: "hint", text: s.erasureIntro }),
    result
      ? [
          el("p", { id: "erasure-result", text: s.erasedParts(result.erased.length) }),
          el("h4", { text: s.keptHeading }),
          result.kept.length
            ? el(
                "ul",
                { id: "erasure-kept" },
                ...result.kept.map((part) =>
                  el("li", {}, `${part.models.join(", ")} (${part.year}): ${part.reason ? part.reason[state.locale] : ""} — ${part.until ? s.keptUntil(formatDate(part.until, state.locale)) : s.keptWhileCase}`),
                ),
              )
            : el("p", { text: s.nothingKept }),
        ]
      : el(
          "form",
          { id: "erasure-form", novalidate: true, onsubmit: (event) => erase(event) },
          el("div", { class: "form-errors", id: "erasure-errors", role: "alert", hidden: true }),
          el(
            "div",
            { class: "field checkbox" },
            el("input", { type: "checkbox", id: "erasure-confirm", name: "confirm", "data-field": "confirm" }),
            el("label", { for: "erasure-confirm", text: s.erasureConfirm }),
            errorSlot("confirm"),
          ),
          el("button", { type: "submit", class: "danger", id: "erasure-submit", text: s.erase }),
        ),
  );
}

function requestsTable() {
  const s = t();
  const requests = (state.rights && state.rights.requests) || [];
  return el(
    "div",
    { class: "card" },
    el("h3", { text: s.requestsHeading }),
    requests.length
      ? el(
          "table",
          { id: "my-requests" },
          el("thead", {}, el("tr", {}, ...s.requestColumns.map((h) => el("th", { scope: "col", text: h })))),
          el(
            "tbody",
            {},
            ...requests.map((r) =>
              el(
                "tr",
                {},
                el("th", { scope: "row", text: `${s.requestKinds[r.kind] || r.kind} (${r.article})` }),
                el("td", { text: formatDate(r.received_at, state.locale) }),
                el("td", { text: formatDate(r.due_at, state.locale) }),
                el("td", { text: s.requestStatus[r.status] || r.status }),
              ),
            ),
          ),
        )
      : el("p", { text: s.noRequests }),
  );
}

async function refreshRights(noticeText, focusId) {
  state.rights = await call("GET", "/v1/me/rights", { credential: state.token });
  state.notice = noticeText;
  render();
  const target = document.getElementById(focusId) || document.getElementById("rights-heading");
  if (target) target.focus();
}

async function rightsCall(button, work) {
  button.disabled = true;
  try {
    return await work();
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 401) message(t().unauthorised, "error");
    else state.notice = error instanceof ApiError && error.problem ? error.message : t().failed;
    return null;
  }
}

async function changeStanding(event, kind, method) {
  const button = event.currentTarget;
  const done = await rightsCall(button, () => call(method, `/v1/me/${kind}`, { credential: state.token }));
  if (done) await refreshRights(null, `${kind}-toggle`);
  else render();
}

async function download(event, path, filename) {
  const button = event.currentTarget;
  const response = await rightsCall(button, () =>
    fetch(path, { headers: { Authorization: `Bearer ${state.token}` }, credentials: "omit" }).then((r) => {
      if (!r.ok) throw new ApiError(r.status, {});
      return r.blob();
    }),
  );
  if (!response) return render();
  const link = el("a", { href: URL.createObjectURL(response), download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  button.disabled = false;
  // An export is a request of its own (Art. 15): it shows in the list.
  await refreshRights(t().downloaded, button.id);
}

async function erase(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const confirm = form.querySelector("#erasure-confirm");
  clearErrors(form);
  if (!confirm.checked) {
    return showErrors(form, new ApiError(422, { errors: [{ field: "confirm", message: t().erasureNeedsConfirm }] }), { fields: t().formHasErrors, refused: t().contestRefused });
  }
  const button = form.querySelector("#erasure-submit");
  const result = await rightsCall(button, () => call("POST", "/v1/me/erasure", { credential: state.token, body: { confirm: true } }));
  if (!result) return render();
  state.erasure = result;
  await refreshRights(null, "erasure-result");
}

/** The chart's words: what a higher score means where the model's spec says ("made leaving
 * more likely"), or the score itself. */
function chartWords(s, meaning) {
  if (!meaning) {
    return { intro: s.factorsIntro, title: s.chartTitle, raises: s.raises, lowers: s.lowers, axisRaises: s.axisRaises, axisLowers: s.axisLowers };
  }
  return {
    intro: s.factorsIntroMeaning(meaning),
    title: s.chartTitleMeaning(meaning),
    raises: s.moreLikely,
    lowers: s.lessLikely,
    axisRaises: s.axisMore(meaning),
    axisLowers: s.axisLess(meaning),
  };
}

/** A decision by rules: each rule that fired with the person's values it tested, and the
 * nearest change of one input that would have given another outcome (both frozen in the two
 * languages). */
function rulesSection(rules) {
  const s = t();
  const loc = state.locale;
  const fired = rules.fired || [];
  return el(
    "section",
    { "aria-labelledby": "rules-heading" },
    el("h2", { id: "rules-heading", text: s.rulesHeading }),
    fired.length
      ? [
          el("p", { class: "hint", text: s.rulesIntro }),
          el(
            "ol",
            { class: "sentences", id: "rules-fired" },
            ...fired.map((f) =>
              el(
                "li",
                { class: "rule", "data-rule": f.rule },
                el("p", { text: f.reason[loc] }),
                el("dl", { class: "facts" }, ...f.conditions.flatMap((c) => [el("dt", { text: c.label[loc] }), el("dd", { text: c.display_value[loc] })])),
              ),
            ),
          ),
        ]
      : el("p", { id: "rules-default", text: rules.default_reason ? rules.default_reason[loc] : "" }),
    rules.nearest_change
      ? [el("h3", { text: s.nearestChangeHeading }), el("p", { id: "nearest-change", text: rules.nearest_change.text[loc] })]
      : null,
  );
}

/** A lender's principal reasons for an adverse outcome (a credit decline), each with the
 * person's value it rests on. */
function reasonsSection(reasons) {
  const s = t();
  return el(
    "section",
    { "aria-labelledby": "reasons-heading" },
    el("h2", { id: "reasons-heading", text: s.principalReasonsHeading }),
    el("p", { class: "hint", text: s.principalReasonsIntro }),
    el("ol", { class: "sentences", id: "principal-reasons" }, ...reasons.map((r) => el("li", { class: "reason", text: r.display_value ? `${r.reason} (${r.display_value})` : r.reason }))),
  );
}

function factorsSection(factors, meaning) {
  const s = t();
  const words = chartWords(s, meaning);
  return el(
    "section",
    { "aria-labelledby": "factors-heading" },
    el("h2", { id: "factors-heading", text: s.factorsHeading }),
    el("p", { class: "hint", text: words.intro }),
    el(
      "figure",
      { class: "chart-frame" },
      contributionChart(
        factors.map((f) => ({ label: f.label, contribution: f.contribution })),
        { id: "factors-chart", ...words },
      ),
    ),
    el("ul", { class: "sentences", id: "sentences" }, ...factors.map((f) => el("li", { class: `sentence sentence-${f.direction}`, text: f.sentence }))),
  );
}

function itemsSection(d) {
  const s = t();
  return el(
    "section",
    { "aria-labelledby": "items-heading" },
    el("h2", { id: "items-heading", text: s.itemsHeading }),
    el("p", { class: "hint", text: d.personalised ? s.personalised : s.notPersonalised }),
    el(
      "ol",
      { class: "items" },
      ...d.items.map((item) =>
        el(
          "li",
          {},
          el("strong", { text: item.title || item.item_id }),
          item.category ? ` (${item.category_label || item.category})` : null,
          el("ul", { class: "sentences" }, ...item.factors.map((f) => el("li", { text: f.sentence }))),
        ),
      ),
    ),
  );
}

function dataSection(rows) {
  const s = t();
  return el(
    "section",
    { "aria-labelledby": "data-heading" },
    el("h2", { id: "data-heading", text: s.dataHeading }),
    el("p", { class: "hint", text: s.dataIntro }),
    el(
      "table",
      { class: "data", id: "data-used" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: s.dataField }), el("th", { scope: "col", text: s.dataValue }))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, el("th", { scope: "row", text: row.label }), el("td", { text: row.display_value })))),
    ),
  );
}

function caseSection(item) {
  const s = t();
  const facts = [
    el("dt", { text: s.caseStatus }),
    el("dd", { id: "case-state" }, s.states[item.state] || item.state, item.overdue ? [" ", flag("overdue", s.overdue)] : null),
    el("dt", { text: s.received }),
    el("dd", { text: formatDate(item.received_at, state.locale) }),
  ];
  if (item.state === "open" || item.state === "assigned") {
    facts.push(el("dt", { text: s.due }), el("dd", { id: "case-due", text: formatDate(item.due_at, state.locale) }));
  }
  if (item.resolved_at) facts.push(el("dt", { text: s.resolvedOn }), el("dd", { text: formatDate(item.resolved_at, state.locale) }));
  return el(
    "section",
    { class: "card case", id: "case", "aria-labelledby": "case-heading" },
    el("h2", { id: "case-heading", tabindex: "-1", text: s.caseHeading }),
    el("dl", { class: "facts" }, ...facts),
    item.extension_reason ? el("p", {}, `${s.extended} `, el("span", { text: item.extension_reason })) : null,
    item.awaiting_second_reviewer ? el("p", { class: "note", text: s.secondReviewer }) : null,
    item.state === "resolved"
      ? [
          el("p", { class: "resolution", id: "case-resolution", text: s.resolutions[item.resolution] || item.resolution }),
          el("h3", { text: s.reasons }),
          el("p", { class: "quoted", id: "case-rationale", text: item.rationale || "" }),
          item.human_decision_id && item.human_decision_id !== state.decisionId
            ? el("p", {}, el("a", { href: `#decision=${item.human_decision_id}`, id: "human-decision-link", text: s.seeHumanDecision }))
            : null,
        ]
      : null,
    item.origin === "contest" && (item.state === "open" || item.state === "assigned")
      ? el("div", { class: "actions" }, el("button", { type: "button", id: "withdraw", text: s.withdraw, onclick: withdraw }))
      : null,
    item.statement ? [el("h3", { text: s.yourStatement }), el("p", { class: "quoted", id: "case-statement", text: item.statement })] : null,
    item.corrections && Object.keys(item.corrections).length
      ? [el("h3", { text: s.yourCorrections }), correctionsList(item.corrections)]
      : null,
  );
}

function correctionsList(corrections) {
  const labels = Object.fromEntries(state.decision.data_used.map((row) => [row.feature, row.label]));
  return el(
    "ul",
    { id: "case-corrections" },
    ...Object.entries(corrections).map(([feature, value]) => el("li", {}, el("span", { text: labels[feature] || feature }), ": ", el("span", { text: displayValue(feature, value) }))),
  );
}

function displayValue(feature, value) {
  const spec = (state.decision.correctable || []).find((c) => c.feature === feature);
  if (spec && spec.type === "date") {
    const used = (state.decision.data_used || []).find((row) => row.feature === feature);
    return used && used.value === value ? used.display_value : String(value);
  }
  if (typeof value === "boolean") {
    if (spec) return value ? spec.true_label || t().yes : spec.false_label || t().no;
    return value ? t().yes : t().no;
  }
  if (spec && spec.category_labels && spec.category_labels[value]) return spec.category_labels[value];
  return spec && spec.unit ? `${value} ${spec.unit}` : String(value);
}

async function withdraw(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    state.case = await call("POST", `/v1/me/cases/${state.case.case_id}/withdraw`, { credential: state.token });
  } catch {
    button.disabled = false;
    return;
  }
  render();
  document.getElementById("case-heading").focus();
}

// --- the contest form ------------------------------------------------------------------------

function fieldId(field) {
  return `field-${field.replace(/[^a-z0-9_-]/gi, "-")}`;
}

function errorSlot(field) {
  return el("p", { class: "field-error", id: `${fieldId(field)}-error`, "data-error-for": field, hidden: true });
}

function correctionInput(c) {
  const s = t();
  const field = `corrections.${c.feature}`;
  const id = fieldId(field);
  const described = `${id}-hint ${id}-error`;
  let control;
  if (c.type === "boolean" || c.type === "category") {
    const options = c.type === "boolean"
      ? [["true", c.true_label || s.yes], ["false", c.false_label || s.no]]
      : (c.categories || []).map((value) => [value, (c.category_labels || {})[value] || value]);
    control = el(
      "select",
      { id, name: field, "data-field": field, "data-type": c.type, "aria-describedby": described },
      el("option", { value: "", text: s.noChange }),
      ...options.map(([value, text]) => el("option", { value, text })),
    );
  } else if (c.type === "date") {
    control = el("input", { id, name: field, type: "date", "data-field": field, "data-type": c.type, "aria-describedby": described });
  } else {
    control = el("input", {
      id,
      name: field,
      type: "number",
      inputmode: c.type === "integer" ? "numeric" : "decimal",
      step: c.type === "integer" ? "1" : "any",
      "data-field": field,
      "data-type": c.type,
      "aria-describedby": described,
    });
  }
  return el(
    "div",
    { class: "field" },
    el("label", { for: id, text: c.unit ? `${c.label} (${c.unit})` : c.label }),
    control,
    el("p", { class: "hint", id: `${id}-hint`, text: `${s.usedValue}: ${displayValue(c.feature, c.value)}` }),
    errorSlot(field),
  );
}

function contestSection(d) {
  const s = t();
  const statementId = fieldId("statement");
  const correctable = d.correctable || [];
  const form = el(
    "form",
    { id: "contest-form", novalidate: true, onsubmit: (event) => submitContest(event) },
    el("div", { class: "form-errors", id: "contest-errors", role: "alert", hidden: true }),
    el(
      "div",
      { class: "field" },
      el("label", { for: statementId, text: s.statement }),
      el("p", { class: "hint", id: `${statementId}-hint`, text: s.statementHint }),
      el("textarea", { id: statementId, name: "statement", rows: "6", maxlength: "5000", "data-field": "statement", "aria-describedby": `${statementId}-hint ${statementId}-error` }),
      errorSlot("statement"),
    ),
    correctable.length
      ? el(
          "fieldset",
          { id: "corrections", "data-field": "corrections", "aria-describedby": `${fieldId("corrections")}-error` },
          el("legend", { text: s.corrections }),
          el("p", { class: "hint", text: s.correctionsHint }),
          ...correctable.map(correctionInput),
          errorSlot("corrections"),
        )
      : null,
    el("button", { type: "submit", class: "primary", id: "contest-submit", text: s.submitContest }),
  );
  return el(
    "section",
    { "aria-labelledby": "contest-heading" },
    el("h2", { id: "contest-heading", text: s.contestHeading }),
    el("p", { text: s.contestIntro }),
    form,
  );
}

function readContest(form) {
  const body = { statement: form.querySelector("#field-statement").value };
  const corrections = {};
  for (const control of form.querySelectorAll("[data-field^='corrections.']")) {
    const raw = control.value.trim();
    if (raw === "") continue;
    const feature = control.dataset.field.slice("corrections.".length);
    const type = control.dataset.type;
    // Sent as typed; anything that does not parse goes as text, and the service names it.
    if (type === "boolean") corrections[feature] = raw === "true";
    else if (type === "number" || type === "integer") corrections[feature] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    else corrections[feature] = raw;
  }
  if (Object.keys(corrections).length) body.corrections = corrections;
  return body;
}

async function submitContest(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("#contest-submit");
  clearErrors(form);
  button.disabled = true;
  button.textContent = t().sending;
  try {
    state.case = await call("POST", `/v1/me/decisions/${state.decisionId}/contest`, { credential: state.token, body: readContest(form) });
  } catch (error) {
    button.disabled = false;
    button.textContent = t().submitContest;
    const problem = error instanceof ApiError ? error : new ApiError(0, { detail: t().failed });
    if (problem.status === 401) return message(t().unauthorised, "error");
    return showErrors(form, problem, { fields: t().formHasErrors, refused: t().contestRefused });
  }
  render();
  document.getElementById("case-heading").focus();
}

readLink();
setLanguage(state.locale || "en");
window.addEventListener("hashchange", () => {
  readLink();
  load();
});
load();
