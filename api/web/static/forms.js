// Forms that show the service's field errors (RFC 9457 problem+json, ``errors[].field``) next
// to the field they name. A form marks its fields with data-field="<path>" and has one
// element with data-error-for="<path>" per field, plus a .form-errors summary at the top.

import { clear, el, show } from "./dom.js";

/** Hide every error of a form. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    clear(slot);
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const summary = form.querySelector(".form-errors");
  summary.hidden = true;
  clear(summary);
}

/**
 * Show a problem's field errors next to their fields; what names no field on the form goes in
 * the summary at the top. Focus moves to the first field in error.
 */
export function showErrors(form, error, intro) {
  const unplaced = [];
  let first = null;
  for (const problem of error.errors) {
    const field = String(problem.field || "");
    let slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (!slot && field.startsWith("corrections.")) slot = form.querySelector('[data-error-for="corrections"]');
    if (!slot) {
      unplaced.push(field ? `${field}: ${problem.message}` : problem.message);
      continue;
    }
    slot.hidden = false;
    slot.append(el("span", { text: problem.message }), " ");
    const control = form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.querySelector(`[data-field="${CSS.escape(slot.dataset.errorFor)}"]`);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      first = first || control;
    }
  }
  const summary = form.querySelector(".form-errors");
  const lines = error.errors.length ? unplaced : [error.message];
  summary.hidden = false;
  summary.tabIndex = -1;
  show(summary, el("p", { text: error.errors.length && !unplaced.length ? intro.fields : intro.refused }), lines.length ? el("ul", {}, ...lines.map((line) => el("li", { text: line }))) : null);
  (first || summary).focus();
}

