// The DPO's page: the latest periodic report of each model, its alerts, and the signed report
// itself as HTML, PDF or JSON, in English or Spanish.
//
// The auditor signs in by pasting their API key. It is kept in sessionStorage (this tab only)
// and sent in the Authorization header; it never goes in a cookie or in the address bar. The
// language lives in the fragment (#lang=es), so a link keeps it. A report is fetched with the
// key and handed to the browser as a download: no report URL carries a credential.

import { ApiError, call } from "./api.js";
import { clear, el, show } from "./dom.js";

const KEY = "glassbox.reports.key";
const state = { key: null };
const main = () => document.getElementById("main");

const TEXT = {
  en: {
    brand: "periodic review",
    title: "Periodic review of the models",
    intro: "The latest signed report of each model: drift, outcome rates by group, what really happened, and how human review is working. Every alert is listed; the reports themselves are below each model.",
    signInTitle: "Sign in to the periodic review",
    keyLabel: "Your auditor API key",
    keyHint: "Kept in this tab only, sent in a header, never stored in a cookie.",
    signIn: "Sign in",
    signOut: "Sign out",
    pasteFirst: "Paste your API key first.",
    invalid: "This key is not valid, or it was revoked.",
    forbidden: "This key may not read the periodic reports: they are for auditors and admins (the DPO).",
    unreachable: "The service cannot be reached; try again.",
    none: "No report has been generated yet. Run: glassbox report --model NAME --out DIR",
    period: "Period",
    generated: "Generated",
    hash: "SHA-256 of report.json",
    alerts: (n) => (n === 0 ? "No alert" : n === 1 ? "1 alert" : `${n} alerts`),
    noAlerts: "No alert in this period.",
    kind: "Alert",
    where: "Where",
    value: "Value",
    threshold: "Threshold",
    html: "Download the report (HTML)",
    pdf: "Download the report (PDF)",
    json: "Download the signed JSON",
    verify: "Check the signature and the log",
    verified: "The report's hash is signed with this service's checkpoint key and is in the decision log.",
    notVerified: (reason) => `The report does not check out: ${reason}`,
    score: "score",
    reviewer: "reviewer",
    against: { training: "against training", previous: "against the previous period" },
    kinds: {
      feature_drift: "Feature drift",
      score_drift: "Score drift",
      attribution_drift: "Attribution drift",
      fairness: "Fairness",
      rubber_stamping: "Rubber-stamping",
    },
    to: "to",
  },
  es: {
    brand: "revisión periódica",
    title: "Revisión periódica de los modelos",
    intro: "El último informe firmado de cada modelo: deriva, tasas de resultado por grupo, lo que ocurrió realmente y cómo funciona la revisión humana. Se enumeran todas las alertas; los informes están debajo de cada modelo.",
    signInTitle: "Acceder a la revisión periódica",
    keyLabel: "Su clave API de auditor",
    keyHint: "Se guarda solo en esta pestaña, se envía en una cabecera, nunca en una cookie.",
    signIn: "Acceder",
    signOut: "Salir",
    pasteFirst: "Pegue primero su clave API.",
    invalid: "Esta clave no es válida o fue revocada.",
    forbidden: "Esta clave no puede leer los informes periódicos: son para auditores y administradores (el DPD).",
    unreachable: "No se puede contactar con el servicio; inténtelo de nuevo.",
    none: "Aún no se ha generado ningún informe. Ejecute: glassbox report --model NOMBRE --out DIR",
    period: "Periodo",
    generated: "Generado",
    hash: "SHA-256 de report.json",
    alerts: (n) => (n === 0 ? "Ninguna alerta" : n === 1 ? "1 alerta" : `${n} alertas`),
    noAlerts: "Ninguna alerta en este periodo.",
    kind: "Alerta",
    where: "Dónde",
    value: "Valor",
    threshold: "Umbral",
    html: "Descargar el informe (HTML)",
    pdf: "Descargar el informe (PDF)",
    json: "Descargar el JSON firmado",
    verify: "Comprobar la firma y el registro",
    verified: "El hash del informe está firmado con la clave de puntos de control de este servicio y figura en el registro de decisiones.",
    notVerified: (reason) => `El informe no supera la comprobación: ${reason}`,
    score: "puntuación",
    reviewer: "revisor",
    against: { training: "frente a entrenamiento", previous: "frente al periodo anterior" },
    kinds: {
      feature_drift: "Deriva de una variable",
      score_drift: "Deriva de la puntuación",
      attribution_drift: "Deriva de la explicación",
      fairness: "Equidad",
      rubber_stamping: "Aprobación automática",
    },
    to: "a",
  },
};

function lang() {
  return new URLSearchParams(window.location.hash.slice(1)).get("lang") === "es" ? "es" : "en";
}

function t() {
  return TEXT[lang()];
}

function date(value, withTime = false) {
  const options = { dateStyle: "medium", timeZone: "UTC" };
  if (withTime) options.timeStyle = "short";
  const locale = lang() === "es" ? "es-ES" : "en-GB";
  return `${new Intl.DateTimeFormat(locale, options).format(new Date(value))}${withTime ? " UTC" : ""}`;
}

function message(text, kind = "info") {
  return el("p", { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status", text });
}

function renderNav() {
  const nav = document.getElementById("nav");
  document.documentElement.lang = lang();
  document.getElementById("brand-name").textContent = t().brand;
  const switcher = ["en", "es"].map((code) =>
    el("button", {
      type: "button",
      class: "locale",
      lang: code,
      "aria-pressed": String(lang() === code),
      text: code === "en" ? "English" : "Español",
      onclick: () => {
        window.location.hash = `lang=${code}`;
      },
    }),
  );
  show(
    nav,
    switcher,
    state.key ? el("button", { type: "button", class: "link-button", id: "sign-out", text: t().signOut, onclick: signOut }) : null,
  );
}

function signOut() {
  sessionStorage.removeItem(KEY);
  state.key = null;
  render();
}

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
      el("input", { id: "field-key", name: "key", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": "field-key-hint" }),
    ),
    el("button", { type: "submit", class: "primary", text: s.signIn }),
  );
  show(main(), el("h1", { text: s.signInTitle }), form);
  document.title = `${s.signInTitle} — glassbox`;
  (problem ? form.querySelector("#sign-in-errors") : form.querySelector("#field-key")).focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = event.currentTarget.querySelector("#field-key").value.trim();
  if (!key) return renderSignIn(t().pasteFirst);
  state.key = key;
  try {
    await call("GET", "/v1/audit/reports", { credential: key });
  } catch (error) {
    state.key = null;
    if (error instanceof ApiError && error.status === 401) return renderSignIn(t().invalid);
    if (error instanceof ApiError && error.status === 403) return renderSignIn(t().forbidden);
    return renderSignIn(t().unreachable);
  }
  sessionStorage.setItem(KEY, key);
  render();
}

function where(alert) {
  const s = t();
  let place = alert.feature ?? alert.group ?? null;
  if (alert.reviewer) place = `${s.reviewer} ${alert.reviewer}`;
  if (alert.attribute && alert.group) place = `${alert.attribute}: ${alert.group}`;
  if (place === null) place = s.score;
  const extra = [alert.metric, alert.against ? s.against[alert.against] || alert.against : null].filter(Boolean);
  return extra.length ? `${place} (${extra.join(", ")})` : place;
}

function number(value) {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

/** Fetch a report with the key and hand it to the browser as a file to save. */
async function download(path, filename) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${state.key}` },
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) throw new ApiError(response.status, null);
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function reportCard(report) {
  const s = t();
  const code = lang();
  const base = `/v1/audit/reports/${report.report_id}`;
  const status = el("div", { class: "report-status", role: "status" });
  const act = (label, run, cls) =>
    el("button", {
      type: "button",
      class: cls,
      text: label,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await run();
        } catch (error) {
          show(status, message(error instanceof ApiError ? error.message : s.unreachable, "error"));
        } finally {
          button.disabled = false;
        }
      },
    });
  const stem = `report-${report.model}-${report.period_from}-${report.period_to}`;
  const alerts = report.alerts;
  return el(
    "section",
    { class: "card", "data-model": report.model, "aria-labelledby": `model-${report.model}` },
    el("h2", { id: `model-${report.model}`, text: `${report.model} · ${s.alerts(alerts.length)}` }),
    el(
      "dl",
      { class: "facts" },
      el("dt", { text: s.period }),
      el("dd", { text: `${date(report.period_from)} ${s.to} ${date(report.period_to)}` }),
      el("dt", { text: s.generated }),
      el("dd", { text: date(report.created_at, true) }),
      el("dt", { text: s.hash }),
      el("dd", { class: "hash", text: report.sha256 }),
    ),
    alerts.length
      ? el(
          "table",
          { class: "alerts" },
          el("caption", { text: s.alerts(alerts.length) }),
          el("thead", {}, el("tr", {}, ...[s.kind, s.where, s.value, s.threshold].map((h, i) => el("th", { scope: "col", class: i > 1 ? "number" : null, text: h })))),
          el(
            "tbody",
            {},
            ...alerts.map((a) =>
              el(
                "tr",
                { "data-kind": a.kind },
                el("td", { text: s.kinds[a.kind] || a.kind }),
                el("td", { text: where(a) }),
                el("td", { class: "number", text: number(a.value) }),
                el("td", { class: "number", text: number(a.threshold) }),
              ),
            ),
          ),
        )
      : message(s.noAlerts, "ok"),
    el(
      "div",
      { class: "actions" },
      act(s.html, () => download(`${base}/html?lang=${code}`, `${stem}-${code}.html`), "primary"),
      act(s.pdf, () => download(`${base}/pdf?lang=${code}`, `${stem}-${code}.pdf`)),
      act(s.json, async () => {
        const full = await call("GET", base, { credential: state.key });
        const blob = new Blob([JSON.stringify(full, null, 2)], { type: "application/json" });
        const url = URL.createObjectURL(blob);
        const link = el("a", { href: url, download: `${stem}.signed.json`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      }),
      act(s.verify, async () => {
        const result = await call("GET", `${base}/verification`, { credential: state.key });
        show(status, result.ok ? message(s.verified, "ok") : message(s.notVerified(result.reason), "error"));
      }),
    ),
    status,
  );
}

async function renderReports() {
  const s = t();
  document.title = `${s.title} — glassbox`;
  let reports;
  try {
    reports = await call("GET", "/v1/audit/reports", { credential: state.key });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      sessionStorage.removeItem(KEY);
      state.key = null;
      renderNav();
      return renderSignIn(error.status === 401 ? s.invalid : s.forbidden);
    }
    return show(main(), el("h1", { text: s.title }), message(s.unreachable, "error"));
  }
  show(
    main(),
    el("h1", { text: s.title }),
    el("p", { class: "hint", text: s.intro }),
    reports.length ? reports.map(reportCard) : message(s.none),
  );
}

function render() {
  renderNav();
  if (!state.key) return renderSignIn();
  clear(main());
  renderReports();
}

state.key = sessionStorage.getItem(KEY);
window.addEventListener("hashchange", render);
render();
