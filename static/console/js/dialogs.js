// Modal dialogs built on <dialog>: focus is trapped by the browser, Escape closes, text stays text.

import { h } from "./dom.js";
import { t } from "./i18n.js";

/** Open a dialog with a form; resolves with onSubmit's value, or null when cancelled. */
export function formDialog({ title, body, submitLabel, onSubmit, wide = false }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "btn primary" }, submitLabel || t("Save"));
    const form = h("form", { method: "dialog", class: "dialog-form" },
      h("h2", { class: "dialog-title" }, title),
      h("div", { class: "dialog-body" }, body),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", value: "cancel", onclick: () => close(null) }, t("Cancel")),
        submit));
    const dialog = h("dialog", { class: wide ? "dialog wide" : "dialog" }, form);
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(null);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      try {
        const value = await onSubmit(form);
        close(value === undefined ? true : value);
      } catch (failure) {
        error.textContent = failure.message || String(failure);
        error.hidden = false;
      } finally {
        submit.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  });
}

export function field(label, control, hint = null) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control, hint ? h("span", { class: "hint" }, hint) : null);
}
