// The composer: Enter sends, Shift+Enter breaks the line; attachments, quick replies ("/"),
// buttons/list messages, and the template picker when the 24-hour window is closed.

import { api, ApiError, rows } from "./api.js";
import { clear, debounce, h, icon } from "./dom.js";
import { field, formDialog } from "./dialogs.js";
import { fileSize, untilLabel } from "./format.js";
import { t } from "./i18n.js";

const limits = api.config.uploadLimits; // WhatsApp's size limits per kind; the server checks the content too

export function uploadProblem(file) {
  const major = (file.type || "").split("/")[0];
  const kind = major === "image" ? "image" : major === "audio" ? "audio" : major === "video" ? "video" : "document";
  if (!file.size) return t("The file %(name)s is empty.", { name: file.name });
  if (file.size > limits[kind]) {
    return t("%(name)s is too large (%(size)s); the limit for this type is %(limit)s.", {
      name: file.name, size: fileSize(file.size), limit: fileSize(limits[kind]),
    });
  }
  return null;
}

function quickReplyLabel(qr) {
  return qr.title || qr.name || qr.label || qr.text || "";
}

function quickReplyHasMedia(qr) {
  if (Array.isArray(qr.media)) return qr.media.length > 0;
  return Boolean(qr.media_url || qr.media || qr.media_kind);
}

/** A template's variables ({key, component, name, type, example}); else the {{n}} placeholders of its body. */
export function templateVariables(template) {
  const declared = template.variables;
  if (Array.isArray(declared) && declared.length) {
    return declared.map((v) => (typeof v === "object" && v !== null
      ? { key: String(v.key ?? v.name), name: String(v.name ?? v.key), component: v.component || "body", type: v.type || "text", example: v.example || "" }
      : { key: `body.${v}`, name: String(v), component: "body", type: "text", example: "" }));
  }
  const names = [];
  for (const match of templateBody(template).matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)) {
    if (!names.includes(match[1])) names.push(match[1]);
  }
  return names.map((name) => ({ key: `body.${name}`, name, component: "body", type: "text", example: "" }));
}

/** The template's body text: its own field, else the BODY component of Meta's definition. */
export function templateBody(template) {
  if (template.body || template.text) return String(template.body || template.text);
  const body = (template.components || []).find((c) => c && String(c.type).toUpperCase() === "BODY");
  return body ? String(body.text || "") : "";
}

/** "Header image (link)": the agent's words for a template header's media (never Meta's English type). */
function headerMediaLabel(type) {
  if (type === "video") return t("Header video (link)");
  if (type === "document") return t("Header document (link)");
  return t("Header image (link)");
}

/** "Variable {{1}}", "Header variable {{name}}", "Button variable {{1}}" by the template part it fills. */
function variableLabel(component, name) {
  if (component === "header") return t("Header variable {{%(name)s}}", { name });
  if (component === "button") return t("Button variable {{%(name)s}}", { name });
  return t("Variable {{%(name)s}}", { name });
}

/** The body with the body variables filled in (the rest left as {{n}}). */
export function fillTemplate(body, values) {
  return String(body || "").replace(/\{\{\s*([\w.]+)\s*\}\}/g, (all, name) => values[`body.${name}`] || all);
}

export class Composer {
  constructor(root, { onSent, onError, onWindowClosed }) {
    this.root = root;
    this.onSent = onSent;
    this.onError = onError;
    this.onWindowClosed = onWindowClosed;
    this.conversation = null;
    this.drafts = new Map(); // chat id -> unsent text, kept while the agent visits other chats
    this.file = null;
    this.sending = false;
    this.quickReplies = [];
    this.qrIndex = 0;
    this.build();
  }

  build() {
    this.fileInput = h("input", {
      type: "file", hidden: true, accept: "image/*,audio/*,video/*,application/pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.txt,.csv",
      onchange: () => this.pickFile(),
    });
    this.textarea = h("textarea", {
      rows: "1", class: "compose-input", placeholder: t("Type a message"), "aria-label": t("Message"),
      "data-compose": "",
    });
    this.textarea.addEventListener("keydown", (event) => this.onKey(event));
    this.textarea.addEventListener("input", () => this.onInput());
    this.attachButton = h("button", { type: "button", class: "icon-btn", title: t("Attach a file"), "aria-label": t("Attach a file"), onclick: () => this.fileInput.click() }, icon("paperclip"));
    this.quickButton = h("button", { type: "button", class: "icon-btn", title: t("Quick replies (type /)"), "aria-label": t("Quick replies"), "aria-expanded": "false", onclick: () => this.toggleQuickReplies() }, icon("zap"));
    this.interactiveButton = h("button", { type: "button", class: "icon-btn", title: t("Send buttons or a list"), "aria-label": t("Send buttons or a list"), onclick: () => this.interactiveDialog() }, icon("list"));
    this.sendButton = h("button", { type: "button", class: "send-btn", title: t("Send (Enter)"), "aria-label": t("Send"), onclick: () => this.send() }, icon("send-horizontal"));
    this.attachment = h("div", { class: "attachment", hidden: true });
    this.qrPanel = h("div", { class: "qr-panel", hidden: true, role: "listbox", "aria-label": t("Quick replies") });
    this.closedReason = h("span", {}, t("WhatsApp only allows approved templates until the customer writes again."));
    this.templateButton = h("button", { type: "button", class: "btn primary", "data-template-picker": "", onclick: () => this.templateDialog() }, t("Send a template"));
    this.closedNotice = h("div", { class: "window-closed", hidden: true, role: "status" },
      h("div", { class: "window-closed-text" }, h("strong", {}, t("The 24-hour window is closed.")), " ", this.closedReason),
      this.templateButton);
    this.windowHint = h("span", { class: "window-hint" });
    this.row = h("div", { class: "compose-row" }, this.attachButton, this.quickButton, this.interactiveButton, this.textarea, this.sendButton);
    clear(this.root).append(this.fileInput, this.qrPanel, this.attachment, this.closedNotice, this.row, this.windowHint);
    this.setEnabled(false); // until a chat is loaded
    this.searchQuickReplies = debounce((q) => this.loadQuickReplies(q), 150);
  }

  setConversation(conversation, { keepDraft = false } = {}) {
    const changed = !this.conversation || this.conversation.id !== conversation.id;
    if (changed && this.conversation) {
      const text = this.textarea.value;
      if (text.trim()) this.drafts.set(this.conversation.id, text);
      else this.drafts.delete(this.conversation.id);
    }
    this.conversation = conversation;
    if (changed && !keepDraft) {
      this.textarea.value = this.drafts.get(conversation.id) || "";
      this.clearFile();
      this.hideQuickReplies();
      this.autosize();
    }
    const open = Boolean(conversation.window_open);
    const closedChat = conversation.status === "closed";
    this.closedNotice.hidden = open;
    // Instagram and Messenger (through Chatwoot) have no templates: nothing can go out until the customer writes.
    const templates = !conversation.platform || conversation.platform === "whatsapp";
    this.templateButton.hidden = !templates;
    this.closedReason.textContent = templates
      ? t("WhatsApp only allows approved templates until the customer writes again.")
      : t("Instagram and Messenger only allow replies within 24 hours of the customer's last message.");
    this.row.classList.toggle("disabled", !open);
    this.setEnabled(open);
    this.textarea.placeholder = !open
      ? t("Free text is disabled outside the 24-hour window")
      : this.file ? t("Add a caption (optional)") : t("Type a message");
    this.windowHint.textContent = open && conversation.window_closes_at
      ? t("Window open · %(left)s", { left: untilLabel(conversation.window_closes_at) }) + (closedChat ? ` · ${t("Chat closed: sending reopens it")}` : "")
      : "";
  }

  setEnabled(enabled) {
    for (const el of [this.textarea, this.attachButton, this.quickButton, this.interactiveButton, this.sendButton]) el.disabled = !enabled;
  }

  focus() {
    if (!this.textarea.disabled) this.textarea.focus();
  }

  autosize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${Math.min(160, this.textarea.scrollHeight)}px`;
  }

  onInput() {
    this.autosize();
    const value = this.textarea.value;
    if (value.startsWith("/") && !value.includes("\n")) this.showQuickReplies(value.slice(1));
    else if (!this.qrPanel.hidden && this.qrFromSlash) this.hideQuickReplies();
  }

  onKey(event) {
    if (!this.qrPanel.hidden) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        this.moveQuickReply(event.key === "ArrowDown" ? 1 : -1);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        this.hideQuickReplies();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && this.quickReplies.length) {
        event.preventDefault();
        this.sendQuickReply(this.quickReplies[this.qrIndex]);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    }
  }

  pickFile() {
    const file = this.fileInput.files[0];
    this.fileInput.value = "";
    if (!file) return;
    const problem = uploadProblem(file);
    if (problem) {
      this.onError(new Error(problem));
      return;
    }
    this.file = file;
    clear(this.attachment).append(
      h("span", { class: "attachment-icon" }, icon(file.type.startsWith("image/") ? "image" : file.type.startsWith("audio/") ? "music" : file.type.startsWith("video/") ? "video" : "file-text")),
      h("span", { class: "attachment-name" }, file.name),
      h("span", { class: "attachment-size" }, fileSize(file.size)),
      h("span", { class: "attachment-hint" }, t("The text you type is sent as its caption.")),
      h("button", { type: "button", class: "icon-btn", "aria-label": t("Remove the attachment"), title: t("Remove the attachment"), onclick: () => this.clearFile() }, icon("x")));
    this.attachment.hidden = false;
    this.textarea.placeholder = t("Add a caption (optional)");
    this.focus();
  }

  clearFile() {
    this.file = null;
    this.attachment.hidden = true;
    clear(this.attachment);
    if (this.conversation && this.conversation.window_open) this.textarea.placeholder = t("Type a message");
  }

  async send() {
    if (this.sending || !this.conversation) return;
    const text = this.textarea.value.trim();
    let payload;
    if (this.file) {
      payload = new FormData();
      payload.append("kind", "attachment");
      payload.append("file", this.file, this.file.name);
      if (text) payload.append("caption", text);
    } else if (text) {
      payload = { kind: "text", text };
    } else {
      return;
    }
    const ok = await this.post(payload);
    if (ok) {
      this.textarea.value = "";
      this.drafts.delete(this.conversation.id);
      this.clearFile();
      this.autosize();
    }
  }

  /** POST a message; true when accepted. A closed window (409) switches the composer to templates. */
  async post(payload) {
    const conversation = this.conversation;
    this.sending = true;
    this.root.classList.add("is-sending");
    try {
      const message = await api.send(conversation.id, payload);
      this.onSent(conversation.id, message);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) this.onWindowClosed(conversation.id, error.message);
      else this.onError(error);
      return false;
    } finally {
      this.sending = false;
      this.root.classList.remove("is-sending");
      this.focus();
    }
  }

  // Quick replies

  toggleQuickReplies() {
    if (this.qrPanel.hidden) this.showQuickReplies("", { fromSlash: false });
    else this.hideQuickReplies();
  }

  showQuickReplies(query, { fromSlash = true } = {}) {
    this.qrFromSlash = fromSlash;
    this.qrPanel.hidden = false;
    this.quickButton.setAttribute("aria-expanded", "true");
    this.searchQuickReplies(query);
  }

  hideQuickReplies() {
    this.qrPanel.hidden = true;
    this.quickButton.setAttribute("aria-expanded", "false");
  }

  async loadQuickReplies(query) {
    const asked = query;
    this.lastQrQuery = asked;
    let list;
    try {
      list = rows(await api.quickReplies(query));
    } catch (error) {
      this.onError(error);
      return;
    }
    if (this.lastQrQuery !== asked || this.qrPanel.hidden) return;
    this.quickReplies = list;
    this.qrIndex = 0;
    this.renderQuickReplies();
  }

  renderQuickReplies() {
    clear(this.qrPanel);
    this.qrPanel.append(h("div", { class: "qr-head" }, t("Quick replies"), h("span", { class: "hint" }, t("↑↓ to choose, Enter or a click sends"))));
    if (!this.quickReplies.length) {
      this.qrPanel.append(h("div", { class: "qr-empty" }, t("No quick reply matches. Admins create them under Bot > Quick replies.")));
      return;
    }
    this.quickReplies.forEach((qr, index) => {
      const preview = qr.text || qr.body || "";
      this.qrPanel.append(h("button", {
        type: "button", role: "option", class: index === this.qrIndex ? "qr-item selected" : "qr-item",
        "aria-selected": index === this.qrIndex ? "true" : "false",
        onmousedown: (event) => event.preventDefault(),
        onclick: () => this.sendQuickReply(qr),
      },
        h("span", { class: "qr-title" }, quickReplyLabel(qr), quickReplyHasMedia(qr) ? h("span", { class: "qr-media", title: t("Sends media too") }, icon("paperclip", t("Sends media too"))) : null),
        preview && preview !== quickReplyLabel(qr) ? h("span", { class: "qr-text" }, preview) : null));
    });
  }

  moveQuickReply(step) {
    if (!this.quickReplies.length) return;
    this.qrIndex = (this.qrIndex + step + this.quickReplies.length) % this.quickReplies.length;
    this.renderQuickReplies();
    const selected = this.qrPanel.querySelector(".selected");
    if (selected) selected.scrollIntoView({ block: "nearest" });
  }

  async sendQuickReply(qr) {
    if (!qr) return;
    this.hideQuickReplies();
    const ok = await this.post({ kind: "quick_reply", quick_reply: qr.id });
    if (ok && this.textarea.value.startsWith("/")) {
      this.textarea.value = "";
      this.autosize();
    }
  }

  // Buttons and list messages

  interactiveDialog() {
    if (!this.conversation) return;
    const conversation = this.conversation;
    const type = h("select", { name: "type" },
      h("option", { value: "buttons" }, t("Reply buttons (up to 3)")),
      h("option", { value: "list" }, t("List (up to 10 options)")));
    const text = h("textarea", { name: "text", rows: "3", required: true, maxlength: "1024" });
    text.value = this.textarea.value;
    const buttonLabel = h("input", { name: "button", maxlength: "20", placeholder: t("e.g. See options") });
    const listOnly = h("div", { class: "list-only", hidden: true }, field(t("Menu button label"), buttonLabel),
      field(t("Section title (optional)"), h("input", { name: "section", maxlength: "24" })));
    const options = h("div", { class: "options" });
    const addOption = () => {
      const max = type.value === "buttons" ? 3 : 10;
      if (options.children.length >= max) return;
      const n = options.children.length + 1;
      options.append(h("div", { class: "option-row" },
        h("input", { name: "title", maxlength: type.value === "buttons" ? "20" : "24", required: true, placeholder: t("Option %(n)s", { n }), "aria-label": t("Option %(n)s", { n }) }),
        h("input", { name: "description", class: "list-only-input", maxlength: "72", placeholder: t("Description (optional)"), hidden: type.value !== "list", "aria-label": t("Description (optional)") }),
        h("button", { type: "button", class: "icon-btn", "aria-label": t("Remove option"), onclick: (event) => event.currentTarget.parentElement.remove() }, icon("x"))));
    };
    const addButton = h("button", { type: "button", class: "btn", onclick: addOption }, t("Add option"));
    type.addEventListener("change", () => {
      listOnly.hidden = type.value !== "list";
      buttonLabel.required = type.value === "list";
      for (const input of options.querySelectorAll(".list-only-input")) input.hidden = type.value !== "list";
      for (const input of options.querySelectorAll("input[name=title]")) input.maxLength = type.value === "buttons" ? 20 : 24;
      while (type.value === "buttons" && options.children.length > 3) options.lastElementChild.remove();
    });
    addOption();
    addOption();
    const body = h("div", {}, field(t("Type"), type), field(t("Message"), text), listOnly,
      h("div", { class: "field" }, h("span", { class: "field-label" }, t("Options")), options, addButton));
    return formDialog({
      title: t("Send buttons or a list"),
      body,
      submitLabel: t("Send"),
      onSubmit: async () => {
        const titles = [...options.querySelectorAll(".option-row")].map((row, index) => ({
          id: `opt_${index + 1}`,
          title: row.querySelector("input[name=title]").value.trim(),
          description: row.querySelector("input[name=description]").value.trim(),
        })).filter((o) => o.title);
        if (!titles.length) throw new Error(t("Add at least one option."));
        let payload;
        if (type.value === "buttons") {
          payload = { kind: "buttons", text: text.value.trim(), buttons: titles.map(({ id, title }) => ({ id, title })) };
        } else {
          const section = body.querySelector("input[name=section]").value.trim();
          payload = {
            kind: "list", text: text.value.trim(), button: buttonLabel.value.trim(),
            sections: [{ title: section || buttonLabel.value.trim(), rows: titles.map(({ id, title, description }) => ({ id, title, description })) }],
          };
        }
        const message = await api.send(conversation.id, payload);
        this.onSent(conversation.id, message);
        this.textarea.value = "";
        this.autosize();
      },
    });
  }

  // Templates (outside the 24-hour window)

  async templateDialog() {
    const conversation = this.conversation;
    if (!conversation) return;
    const channelId = conversation.channel && conversation.channel.id;
    const select = h("select", { name: "template", required: true, "data-template-select": "" });
    const preview = h("div", { class: "template-preview", dir: "auto" });
    const variables = h("div", { class: "template-vars" });
    const status = h("p", { class: "hint" });
    let templates = [];
    const values = {};
    const renderChoice = () => {
      const template = templates.find((tp) => String(tp.id) === select.value);
      clear(variables);
      if (!template) {
        preview.textContent = "";
        return;
      }
      for (const key of Object.keys(values)) delete values[key];
      const update = () => { preview.textContent = fillTemplate(templateBody(template), values); };
      templateVariables(template).forEach((v) => {
        const media = ["image", "video", "document"].includes(v.type);
        const input = h("input", { name: `var-${v.key}`, required: true, type: media ? "url" : "text", placeholder: v.example || (media ? "https://…" : ""), "data-variable": v.key });
        input.addEventListener("input", () => { values[v.key] = input.value; update(); });
        const label = media ? headerMediaLabel(v.type) : variableLabel(v.component, v.name);
        variables.append(field(label, input));
      });
      update();
    };
    const load = async () => {
      templates = rows(await api.templates(channelId)).filter((tp) => !tp.status || String(tp.status).toUpperCase() === "APPROVED");
      clear(select).append(h("option", { value: "" }, templates.length ? t("Choose a template…") : t("No approved templates")));
      for (const tp of templates) select.append(h("option", { value: String(tp.id) }, `${tp.name} · ${tp.language}${tp.category ? ` · ${tp.category}` : ""}`));
      status.textContent = templates.length ? "" : api.config.user.isStaff
        ? t("Sync them from WhatsApp if you created templates in Meta's WhatsApp Manager.")
        : t("Ask an administrator to sync the templates from WhatsApp.");
      renderChoice();
    };
    select.addEventListener("change", renderChoice);
    const sync = h("button", { type: "button", class: "btn", hidden: !api.config.user.isStaff, onclick: async () => {
      sync.disabled = true;
      status.textContent = t("Syncing templates from WhatsApp…");
      try {
        await api.syncTemplates(channelId);
        await load();
        status.textContent = t("Templates updated.");
      } catch (error) {
        status.textContent = error.message;
      } finally {
        sync.disabled = false;
      }
    } }, t("Sync from WhatsApp"));
    try {
      await load();
    } catch (error) {
      this.onError(error);
      return null;
    }
    return formDialog({
      title: t("Send a template"),
      wide: true,
      body: h("div", {}, h("p", { class: "hint" }, t("Outside the 24-hour window WhatsApp only delivers templates approved by Meta.")),
        h("div", { class: "template-pick" }, field(t("Template"), select), sync), status, variables,
        h("div", { class: "field" }, h("span", { class: "field-label" }, t("Preview")), preview)),
      submitLabel: t("Send template"),
      onSubmit: async () => {
        if (!select.value) throw new Error(t("Choose a template."));
        const message = await api.send(conversation.id, { kind: "template", template: Number(select.value), variables: { ...values } });
        this.onSent(conversation.id, message);
      },
    });
  }
}
