// The person's page: one decision, its reasons, the contest form and the case.
//
// The link in the notice is /subject/#decision=<id>&token=<token>. The fragment never reaches a
// server; the token is moved into sessionStorage (this tab only) and out of the address bar at
// once, then sent in the Authorization header. No cookie is involved anywhere.
//
// The page's language: ?lang= in the address or the person's choice on the page (this tab),
// else the decision's own; a link that does not open (expired, withdrawn, damaged) is explained
// in the address's or the browser's language, with how to get a new one.

import { ApiError, call, useLanguage } from "./api.js";
import { contributionChart } from "./chart.js";
import { el, flag, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { LOCALES, detectLocale, formatDate, keepLocaleInAddress, localeInAddress, localeSwitch, strings } from "./i18n.js";

const TOKEN_KEY = "glassbox.subject.token";
const LOCALE_KEY = "glassbox.subject.locale";

const state = {
  decisionId: null,
  // A profile's link (#profile=…): the person's profiles and rights, no decision of its own.
  profileId: null,
  profiles: [],
  token: null,
  locale: null,
  decision: null,
  case: null,
  casesAvailable: true,
  // The person's rights, on every decision's page: their decisions, standing choices, requests.
  decisions: [],
  rights: null,
  erasure: null,
  // Why the erasure was refused: a problem's text, or "tokenTooOld" (a fresh link is needed).
  erasureProblem: null,
  notice: null,
  noticeKind: "info",
  // Every decision's detail in the list (by id): its outcome label, role and counterfactuals.
  details: {},
  rectification: null,
};

// A person has a handful of decisions; past this many the list links to the others without
// fetching their details (the person's rate limit is shared with the page's own calls).
const MAX_DETAILED = 12;
// Other decisions' details as read in this tab, by language and id: what was frozen with a
// decision does not change, so a reload of the page or a switch back costs no call.
const detailsRead = new Map();

const main = () => document.getElementById("main");

// The language the page speaks now (state.locale is the one asked of the service, if any).
let speaking = "en";

function t() {
  return strings(speaking);
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
  state.profileId = params.get("profile");
  state.token = sessionStorage.getItem(TOKEN_KEY);
  const chosen = sessionStorage.getItem(LOCALE_KEY);
  state.locale = localeInAddress() || (LOCALES.includes(chosen) ? chosen : null);
}

function setLanguage(locale) {
  speaking = locale;
  useLanguage(locale);
  document.documentElement.lang = locale;
  document.title = `${t().pageTitle} — glassbox`;
  localeSwitch(document.getElementById("locale-switch"), { current: locale, label: t().languages, onPick: switchLocale });
}

async function switchLocale(locale) {
  if (locale === state.locale) return;
  sessionStorage.setItem(LOCALE_KEY, locale);
  // A language named in the address follows the switch, so that a reload keeps the choice.
  if (localeInAddress()) keepLocaleInAddress(locale);
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
  // Until the decision says its own language: the address's, the one chosen here, the browser's.
  const shown = state.locale || detectLocale();
  if (!state.decisionId && state.profileId && /^[0-9a-f]{32}$/.test(state.profileId) && state.token) {
    return loadProfilePage(shown);
  }
  if (!state.decisionId || !/^[0-9a-f]{32}$/.test(state.decisionId)) {
    setLanguage(shown);
    return stranded({ kind: "noDecision" });
  }
  if (!state.token) {
    setLanguage(shown);
    return stranded({ kind: "noToken" });
  }
  useLanguage(shown);
  try {
    const query = state.locale ? { locale: state.locale } : undefined;
    state.decision = await call("GET", `/v1/me/decisions/${state.decisionId}`, { credential: state.token, query });
    state.locale = state.decision.locale;
    useLanguage(state.locale);
    state.case = await loadCase();
    [state.decisions, state.rights, state.profiles] = await Promise.all([
      call("GET", "/v1/me/decisions", { credential: state.token }),
      call("GET", "/v1/me/rights", { credential: state.token }),
      call("GET", "/v1/me/profiles", { credential: state.token }).catch(() => []),
    ]);
    state.details = await loadDetails();
  } catch (error) {
    setLanguage(state.locale || shown);
    if (error instanceof ApiError && error.status === 401) return stranded(linkTrouble(state.token));
    if (error instanceof ApiError && error.status === 404) return message(t().notFound, "error");
    return message(t().failed, "error");
  }
  setLanguage(state.locale);
  render();
}

/** A profile's link: the person's profiles, decisions and rights, in the page's language. */
async function loadProfilePage(shown) {
  useLanguage(shown);
  state.locale = state.locale || shown;
  try {
    [state.decisions, state.rights, state.profiles] = await Promise.all([
      call("GET", "/v1/me/decisions", { credential: state.token }),
      call("GET", "/v1/me/rights", { credential: state.token }),
      call("GET", "/v1/me/profiles", { credential: state.token }),
    ]);
    state.details = await loadDetails();
  } catch (error) {
    setLanguage(state.locale);
    if (error instanceof ApiError && error.status === 401) return stranded(linkTrouble(state.token));
    return message(t().failed, "error");
  }
  setLanguage(state.locale);
  renderProfilePage();
}

function renderProfilePage() {
  const s = t();
  document.title = `${s.profilePageTitle} — glassbox`;
  show(main(), el("h1", { text: s.profilePageTitle }), rightsSection());
  const mine = document.querySelector(`[data-profile="${state.profileId}"]`);
  if (mine) mine.classList.add("current");
}

/** The profiles built about the person (Art. 15(1)(h)): what each says and what made it, in
 * the language it was built in; erased ones say so. */
function profilesCard() {
  const s = t();
  const profiles = state.profiles || [];
  return el(
    "div",
    { class: "card", id: "profiles" },
    el("h3", { id: "profiles-heading", text: s.profilesHeading }),
    el("p", { class: "hint", text: s.profilesIntro }),
    profiles.length
      ? el(
          "ul",
          { class: "decisions", "aria-labelledby": "profiles-heading" },
          ...profiles.map((p) => {
            if (p.status !== "available") {
              return el("li", { class: "decision-item", "data-profile": p.id }, el("p", { text: `${p.model ? p.model.name : ""} — ${p.status === "erased" ? s.profileErased : s.profileUnreadable}` }));
            }
            const value = p.display_value ? ` (${p.display_value})` : "";
            return el(
              "li",
              { class: "decision-item", "data-profile": p.id, lang: p.locale },
              el("p", { class: "decision-line" }, el("strong", { text: `${formatDate(p.created_at, state.locale, true)} — ${p.model.name}: ${p.outcome_label}${value}` })),
              p.description ? el("p", { class: "hint", text: p.description }) : null,
              p.runner_up ? el("p", { class: "hint", text: s.profileRunnerUp(p.runner_up.label) }) : null,
              p.factors && p.factors.length
                ? el("ul", { class: "sentences", "aria-label": s.profileWhy }, ...p.factors.map((f) => el("li", { text: f.sentence })))
                : null,
            );
          }),
        )
      : el("p", { class: "hint", text: s.noProfiles }),
  );
}

/** Each decision of the list in the page's language (this one is loaded already). */
async function loadDetails() {
  const wanted = state.decisions.slice(0, MAX_DETAILED);
  const read = async (item) => {
    const key = `${state.locale}:${item.id}`;
    if (!detailsRead.has(key)) {
      const detail = await call("GET", `/v1/me/decisions/${item.id}`, { credential: state.token, query: { locale: state.locale } }).catch(() => null);
      if (detail) detailsRead.set(key, detail);
      return detail;
    }
    return detailsRead.get(key);
  };
  const details = await Promise.all(wanted.map((item) => (item.id === state.decisionId ? state.decision : read(item))));
  return Object.fromEntries(details.filter(Boolean).map((detail) => [detail.id, detail]));
}

// --- a link that does not open ---------------------------------------------------------------

/** Why a token was refused, as far as the page can tell from the token itself: its expiry is
 * readable (not secret, and not trusted: the service decides); a withdrawn token looks valid. */
function linkTrouble(token) {
  try {
    const payload = JSON.parse(atob(String(token).split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
    if (typeof payload.exp === "number" && payload.exp * 1000 <= Date.now()) return { kind: "expired", at: new Date(payload.exp * 1000) };
    return { kind: "revoked" };
  } catch {
    return { kind: "damaged" };
  }
}

/** How to get a new link: from the organisation that decided, which can always issue one. */
function freshLinkHelp() {
  const s = t();
  return el(
    "section",
    { class: "card", id: "fresh-link", "aria-labelledby": "fresh-link-heading" },
    el("h2", { id: "fresh-link-heading", text: s.freshLinkHeading }),
    el("ol", { class: "sentences" }, ...s.freshLinkSteps.map((step) => el("li", { text: step }))),
    el("p", { class: "hint", text: s.freshLinkWhy }),
  );
}

/** The page for a link that does not open: what happened, and how to get a new one. */
function stranded(trouble) {
  const s = t();
  const what = {
    expired: () => s.strandedExpired(formatDate(trouble.at, speaking)),
    revoked: () => s.strandedRevoked,
    damaged: () => s.strandedDamaged,
    noToken: () => s.strandedNoToken,
    noDecision: () => s.strandedNoDecision,
  }[trouble.kind]();
  document.title = `${s.strandedTitle} — glassbox`;
  show(
    main(),
    el("h1", { id: "stranded-heading", tabindex: "-1", text: s.strandedTitle }),
    el("p", { class: "message message-error", role: "alert", id: "link-trouble", "data-trouble": trouble.kind, text: what }),
    freshLinkHelp(),
  );
}

/** The service's problem in the page's language: its own words when it wrote them in it, else
 * the page's words for each field it names and for the kind of refusal (never another language). */
function inLanguage(error) {
  if (!(error instanceof ApiError)) return new ApiError(0, { detail: t().failed }, state.locale);
  if (state.locale === "en" || error.language === state.locale) return error;
  const s = t();
  const fieldMessage = (field) => s.fieldMessages[field] || (field.startsWith("corrections") ? s.fieldMessages.corrections : s.fieldMessages.other);
  const detail = { 403: s.forbidden, 409: s.conflict, 429: s.tooMany }[error.status] || s.failed;
  const errors = error.errors.map((item) => ({ ...item, message: fieldMessage(String(item.field || "")) }));
  return new ApiError(error.status, { ...(error.problem || {}), title: detail, detail, errors }, state.locale);
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
  // A profile's link has no decision of its own: its page is the person's profiles and rights.
  if (!state.decision) return renderProfilePage();
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
    roleSection(d.role),
    // A decision by rules gives its reasons with the rules that fired, below.
    d.principal_reasons && d.principal_reasons.length && !d.rules ? reasonsSection(d.principal_reasons) : null,
    d.rules ? rulesSection(d.rules) : d.items ? itemsSection(d) : factorsSection(d.factors, d.score_meaning),
    counterfactualSection(d.counterfactuals),
    dataSection(d.data_used, d.rectified || []),
    // A person's own decision is not contested again (the service refuses it); nor is one under
    // review with their word already. A case opened without it (by policy, or a reviewer's
    // escalation) takes their statement and corrections.
    d.decided_by !== "human" && (!state.case || state.case.state === "withdrawn" || awaitsTheirWord(state.case)) ? contestSection(d) : null,
    rectificationSection(d),
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
    state.notice
      ? el("p", { class: `message message-${state.noticeKind}`, role: state.noticeKind === "error" ? "alert" : "status", id: "rights-status", tabindex: "-1", text: state.notice })
      : null,
    decisionsList(),
    profilesCard(),
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

/** Every decision about the person, across models: its outcome, the role the model played and
 * what would have changed it, each in the page's language. */
function decisionsList() {
  const s = t();
  const loc = state.locale;
  return el(
    "div",
    { class: "card" },
    el("h3", { id: "my-decisions-heading", text: s.myDecisions }),
    el("p", { class: "hint", text: s.myDecisionsIntro }),
    el(
      "ul",
      { id: "my-decisions", class: "decisions", "aria-labelledby": "my-decisions-heading" },
      ...state.decisions.map((item) => {
        const detail = state.details[item.id];
        const words = detail ? detail.outcome_label : item.outcome_text ? item.outcome_text[loc] : null;
        const status = s.decisionStatus[item.status];
        const label = `${formatDate(item.created_at, loc, true)} — ${item.model.name}${words ? `: ${words}` : ""}${item.decided_by === "human" ? ` (${s.humanDecided})` : ""}${status ? ` · ${status}` : ""}`;
        const counterfactuals = (detail && detail.counterfactuals) || [];
        return el(
          "li",
          { class: "decision-item", "data-decision": item.id },
          el(
            "p",
            { class: "decision-line" },
            item.id === state.decisionId
              ? el("strong", { "aria-current": "page", text: `${label} (${s.thisDecision})` })
              : el("a", { href: `#decision=${item.id}`, text: label }),
          ),
          detail && detail.role ? el("p", { class: "hint decision-role", text: detail.role.sentence[loc] }) : null,
          counterfactuals.length
            ? el("ul", { class: "sentences decision-counterfactuals", "aria-label": s.counterfactualsHeading }, ...counterfactuals.map((c) => el("li", { text: c.sentence })))
            : null,
        );
      }),
    ),
  );
}

/** The role the model played in this decision (Art. 86 AI Act), its purpose, how it decides
 * and what it weighs, in the page's language. */
function roleSection(role) {
  if (!role) return null;
  const s = t();
  const loc = state.locale;
  const parameters = role.parameters || [];
  return el(
    "section",
    { "aria-labelledby": "role-heading", id: "role" },
    el("h2", { id: "role-heading", text: s.roleHeading }),
    el("p", { id: "role-sentence", text: role.sentence[loc] }),
    el(
      "dl",
      { class: "facts" },
      role.purpose ? [el("dt", { text: s.rolePurpose }), el("dd", { id: "role-purpose", text: role.purpose[loc] })] : null,
      role.logic ? [el("dt", { text: s.roleLogic }), el("dd", { id: "role-logic", text: role.logic[loc] })] : null,
      parameters.length ? [el("dt", { text: s.roleParameters }), el("dd", { id: "role-parameters", text: parameters.map((p) => p.label[loc]).join(", ") })] : null,
    ),
  );
}

/** What would have changed an adverse outcome: each change re-scored on the deciding version,
 * worded in the page's language by the service. */
function counterfactualSection(items) {
  if (!items || !items.length) return null;
  const s = t();
  return el(
    "section",
    { "aria-labelledby": "counterfactuals-heading", id: "counterfactuals" },
    el("h2", { id: "counterfactuals-heading", text: s.counterfactualsHeading }),
    el("p", { class: "hint", text: s.counterfactualsIntro }),
    el("ul", { class: "sentences", id: "counterfactual-list" }, ...items.map((c) => el("li", { class: "counterfactual", "data-outcome": c.outcome, text: c.sentence }))),
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
          el("p", { id: "erasure-result", tabindex: "-1", text: s.erasedParts(result.erased.length) }),
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
      : [
          state.erasureProblem === "tokenTooOld"
            ? el(
                "div",
                { id: "erasure-trouble", class: "message message-error", role: "alert", tabindex: "-1" },
                el("p", {}, el("strong", { text: s.tokenTooOldTitle }), ". ", s.tokenTooOld),
                el("p", { text: s.tokenTooOldNext }),
                freshLinkHelp(),
              )
            : state.erasureProblem
              ? el("p", { id: "erasure-trouble", class: "message message-error", role: "alert", tabindex: "-1", text: state.erasureProblem })
              : null,
          el("button", { type: "button", class: "danger", id: "erasure-start", "aria-haspopup": "dialog", text: s.eraseStart, onclick: openErasureDialog }),
          erasureDialog(),
        ],
  );
}

/** The second, explicit confirmation of an erasure: a modal dialog whose first answer is "no". */
function erasureDialog() {
  const s = t();
  const dialog = el(
    "dialog",
    { id: "erasure-dialog", "aria-labelledby": "erasure-dialog-title", "aria-describedby": "erasure-dialog-text" },
    el("h2", { id: "erasure-dialog-title", text: s.erasureDialogTitle }),
    el("p", { id: "erasure-dialog-text", text: s.erasureDialogText }),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", id: "erasure-cancel", autofocus: true, text: s.erasureCancel, onclick: () => dialog.close("cancel") }),
      el("button", { type: "button", class: "danger", id: "erasure-confirm", text: s.erasureConfirmButton, onclick: erase }),
    ),
  );
  // Closed without erasing (the "no" button or Escape): say so, and give the keyboard back.
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "erasing") return;
    state.notice = s.erasureCancelled;
    state.noticeKind = "info";
    render();
    document.getElementById("erasure-start").focus();
  });
  return dialog;
}

function openErasureDialog() {
  state.erasureProblem = null;
  const trouble = document.getElementById("erasure-trouble");
  if (trouble) trouble.remove();
  document.getElementById("erasure-dialog").showModal();
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
                el("td", { text: r.status === "completed" && r.completed_at ? s.completedOn(formatDate(r.completed_at, state.locale)) : s.requestStatus[r.status] || r.status }),
              ),
            ),
          ),
        )
      : el("p", { text: s.noRequests }),
  );
}

async function refreshRights(noticeText, focusId) {
  // An objection may erase profiles (where their spec says so): read both again.
  [state.rights, state.profiles] = await Promise.all([
    call("GET", "/v1/me/rights", { credential: state.token }),
    call("GET", "/v1/me/profiles", { credential: state.token }).catch(() => state.profiles),
  ]);
  state.notice = noticeText;
  state.noticeKind = "info";
  render();
  const target = document.getElementById(focusId) || document.getElementById("rights-heading");
  if (target) target.focus();
}

/** Run a rights request from a button; on refusal, say why in the page's language (a link that
 * no longer opens gets the whole explanation) and return null. */
async function rightsCall(button, work) {
  button.disabled = true;
  try {
    return await work();
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 401) {
      stranded(linkTrouble(state.token));
      return null;
    }
    state.notice = `${t().requestRefused} ${inLanguage(error).message}`;
    state.noticeKind = "error";
    return null;
  }
}

async function changeStanding(event, kind, method) {
  const button = event.currentTarget;
  const done = await rightsCall(button, () => call(method, `/v1/me/${kind}`, { credential: state.token }));
  if (done) return refreshRights(null, `${kind}-toggle`);
  if (document.getElementById("rights")) {
    render();
    document.getElementById("rights-status").focus();
  }
}

async function download(event, path, filename) {
  const button = event.currentTarget;
  const file = await rightsCall(button, async () => {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, "Accept-Language": state.locale },
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) {
      const problem = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
      throw new ApiError(response.status, problem, response.headers.get("content-language"));
    }
    return response.blob();
  });
  if (!file) {
    if (document.getElementById("rights")) {
      render();
      document.getElementById("rights-status").focus();
    }
    return;
  }
  // A real download: the browser saves the file under its name, from memory, then forgets it.
  const url = URL.createObjectURL(file);
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
  button.disabled = false;
  // An export is a request of its own (Art. 15): it shows in the list.
  await refreshRights(t().downloaded, button.id);
}

async function erase(event) {
  const button = event.currentTarget;
  const dialog = document.getElementById("erasure-dialog");
  button.disabled = true;
  let result;
  try {
    result = await call("POST", "/v1/me/erasure", { credential: state.token, body: { confirm: true } });
  } catch (error) {
    dialog.close("erasing");
    if (error instanceof ApiError && error.status === 401) return stranded(linkTrouble(state.token));
    const tooOld = error instanceof ApiError && error.status === 403 && String((error.problem && error.problem.type) || "").endsWith("token-too-old");
    state.erasureProblem = tooOld ? "tokenTooOld" : `${t().requestRefused} ${inLanguage(error).message}`;
    render();
    document.getElementById("erasure-trouble").focus();
    return;
  }
  dialog.close("erasing");
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

function dataSection(rows, rectified = []) {
  const s = t();
  const corrected = Object.fromEntries(rectified.map((r) => [r.feature, r]));
  return el(
    "section",
    { "aria-labelledby": "data-heading" },
    el("h2", { id: "data-heading", text: s.dataHeading }),
    el("p", { class: "hint", text: s.dataIntro }),
    el(
      "table",
      { class: "data", id: "data-used" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: s.dataField }), el("th", { scope: "col", text: s.dataValue }))),
      el(
        "tbody",
        {},
        ...rows.map((row) =>
          el(
            "tr",
            { "data-feature": row.feature },
            el("th", { scope: "row", text: row.label }),
            el(
              "td",
              {},
              row.display_value,
              // Art. 16: a value the person rectified stands in for the one the decision used.
              corrected[row.feature]
                ? [" ", el("span", { class: "hint rectified", text: s.rectifiedOn(formatDate(corrected[row.feature].rectified_at, state.locale), displayValue(row.feature, corrected[row.feature].previous_value)) })]
                : null,
            ),
          ),
        ),
      ),
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

// The contest form and the rectification form both name corrections "corrections.<feature>" (as
// the service's errors do); their element ids differ by a prefix.
function fieldId(field, prefix = "field") {
  return `${prefix}-${field.replace(/[^a-z0-9_-]/gi, "-")}`;
}

function errorSlot(field, prefix = "field") {
  return el("p", { class: "field-error", id: `${fieldId(field, prefix)}-error`, "data-error-for": field, hidden: true });
}

function correctionInput(c, prefix = "field") {
  const s = t();
  const field = `corrections.${c.feature}`;
  const id = fieldId(field, prefix);
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
    errorSlot(field, prefix),
  );
}

function awaitsTheirWord(item) {
  return ["open", "assigned"].includes(item.state) && item.origin !== "contest" && !item.statement;
}

function contestSection(d) {
  const s = t();
  const joining = state.case && awaitsTheirWord(state.case);
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
          ...correctable.map((c) => correctionInput(c)),
          errorSlot("corrections"),
        )
      : null,
    el("button", { type: "submit", class: "primary", id: "contest-submit", text: s.submitContest }),
  );
  return el(
    "section",
    { "aria-labelledby": "contest-heading" },
    el("h2", { id: "contest-heading", text: s.contestHeading }),
    el("p", { text: joining ? s.contestJoinIntro : s.contestIntro }),
    form,
  );
}

function readContest(form) {
  const body = { statement: form.querySelector("#field-statement").value };
  const corrections = readCorrections(form);
  if (Object.keys(corrections).length) body.corrections = corrections;
  return body;
}

/** The corrections a form holds, typed as the service expects them. */
function readCorrections(form) {
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
  return corrections;
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
    if (error instanceof ApiError && error.status === 401) return stranded(linkTrouble(state.token));
    return showErrors(form, inLanguage(error), { fields: t().formHasErrors, refused: t().contestRefused });
  }
  render();
  document.getElementById("case-heading").focus();
}

// --- rectification (Art. 16) -----------------------------------------------------------------

/** Correct a stored input outside a contest: the service re-scores the decision with the
 * corrected data on the deciding version and opens a review where the outcome would change. */
function rectificationSection(d) {
  const s = t();
  const correctable = d.correctable || [];
  const underReview = state.case && ["open", "assigned"].includes(state.case.state);
  const done = state.rectification;
  if (!correctable.length || d.decided_by === "human" || (underReview && !done)) return null;
  const statementId = fieldId("statement", "rect");
  return el(
    "section",
    { "aria-labelledby": "rectification-heading", id: "rectification" },
    el("h2", { id: "rectification-heading", text: s.rectificationHeading }),
    el("p", { text: s.rectificationIntro }),
    done
      ? el(
          "div",
          { class: "message message-ok", id: "rectification-result", role: "status", tabindex: "-1" },
          el("p", { text: s.rectified(done.rescored.outcome_label[state.locale]) }),
          el("p", { text: done.outcome_changes ? s.rectifiedChanges : s.rectifiedSame }),
        )
      : el(
          "details",
          { id: "rectification-details" },
          el("summary", { text: s.rectificationOpen }),
          el(
          "form",
          { id: "rectification-form", novalidate: true, onsubmit: (event) => submitRectification(event) },
          el("div", { class: "form-errors", id: "rectification-errors", role: "alert", hidden: true }),
          el(
            "fieldset",
            { "data-field": "corrections", "aria-describedby": `${fieldId("corrections", "rect")}-error` },
            el("legend", { text: s.corrections }),
            el("p", { class: "hint", text: s.correctionsHint }),
            ...correctable.map((c) => correctionInput(c, "rect")),
            errorSlot("corrections", "rect"),
          ),
          el(
            "div",
            { class: "field" },
            el("label", { for: statementId, text: s.rectificationStatement }),
            el("textarea", { id: statementId, name: "statement", rows: "3", maxlength: "5000", "data-field": "statement", "aria-describedby": `${statementId}-error` }),
            errorSlot("statement", "rect"),
          ),
          el("button", { type: "submit", class: "primary", id: "rectification-submit", text: s.submitRectification }),
          ),
        ),
  );
}

async function submitRectification(event) {
  event.preventDefault();
  const s = t();
  const form = event.currentTarget;
  const button = form.querySelector("#rectification-submit");
  const intro = { fields: s.formHasErrors, refused: s.requestRefused };
  clearErrors(form);
  const body = { corrections: readCorrections(form) };
  if (!Object.keys(body.corrections).length) {
    return showErrors(form, new ApiError(422, { errors: [{ field: "corrections", message: s.rectificationNothing }] }, state.locale), intro);
  }
  const statement = form.querySelector(`#${fieldId("statement", "rect")}`).value.trim();
  if (statement) body.statement = statement;
  button.disabled = true;
  button.textContent = s.sending;
  let result;
  try {
    result = await call("POST", `/v1/me/decisions/${state.decisionId}/rectification`, { credential: state.token, body });
  } catch (error) {
    button.disabled = false;
    button.textContent = s.submitRectification;
    if (error instanceof ApiError && error.status === 401) return stranded(linkTrouble(state.token));
    return showErrors(form, inLanguage(error), intro);
  }
  // The corrected values are the stored ones from now on: read the decision, its case and the
  // requests again, then say what the corrected data gives.
  await load();
  state.rectification = result;
  render();
  document.getElementById("rectification-result").focus();
}

readLink();
setLanguage(state.locale || detectLocale());
window.addEventListener("hashchange", () => {
  readLink();
  // What was done on another decision's page is not this one's.
  Object.assign(state, { rectification: null, erasureProblem: null, notice: null });
  load();
});
load();
