// The open conversation: header with actions and presence, message history (older on scroll up), live updates.

import { api, rows } from "./api.js";
import { clear, h, icon } from "./dom.js";
import { field, formDialog } from "./dialogs.js";
import { attentionText, dayKey, dayLabel, parse, platformLabel, statusLabel } from "./format.js";
import { t } from "./i18n.js";
import { avatarHue, initials } from "./list.js";
import { renderMessage } from "./messages.js";

const NEAR_BOTTOM = 120;
const LOAD_OLDER_AT = 300;

const PROGRESS = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

/** Merge what we knew and what we hear, newest wins, but a delivery tick never goes backwards
 * (a page fetched a moment before a status event may arrive after it). */
export function mergeMessage(known, heard) {
  if (!known) return heard;
  const merged = { ...known, ...heard };
  if (known.status in PROGRESS && heard.status in PROGRESS && PROGRESS[heard.status] < PROGRESS[known.status]) {
    merged.status = known.status;
  }
  return merged;
}

/** Reactions show on the message they react to, not as messages of their own. */
const shown = (message) => message.kind !== "reaction";

function byTime(a, b) {
  const ta = Date.parse(a.created_at) || 0;
  const tb = Date.parse(b.created_at) || 0;
  return ta - tb || a.id - b.id;
}

export class ChatView {
  constructor(root, { composer, onConversation, onError, onBack, onNotice }) {
    this.root = root;
    this.composer = composer;
    this.onConversation = onConversation;
    this.onError = onError;
    this.onBack = onBack;
    this.onNotice = onNotice;
    this.header = root.querySelector("[data-chat-header]");
    this.banner = root.querySelector("[data-chat-banner]");
    this.scroller = root.querySelector("[data-scroller]");
    this.list = root.querySelector("[data-messages]");
    this.olderStatus = root.querySelector("[data-older]");
    this.jump = root.querySelector("[data-jump]");
    this.conversation = null;
    this.messages = new Map();
    this.older = null;
    this.loadingOlder = false;
    this.generation = 0;
    this.viewers = [];
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.jump.addEventListener("click", () => this.scrollToBottom(true));
    this.readSoon = null;
    // A click anywhere outside the open actions menu closes it.
    document.addEventListener("click", (event) => {
      for (const menu of this.header.querySelectorAll(".menu:not([hidden])")) {
        const wrap = menu.parentElement;
        if (!wrap.contains(event.target)) {
          menu.hidden = true;
          wrap.querySelector("[aria-haspopup]").setAttribute("aria-expanded", "false");
        }
      }
    });
  }

  get id() {
    return this.conversation ? this.conversation.id : null;
  }

  async open(id, summary = null) {
    const generation = ++this.generation;
    const refresh = this.conversation !== null && this.conversation.id === id; // a reload keeps the draft
    this.heardWhileLoading = {}; // conversation events that arrive during the load win over its answer
    this.conversation = summary || { id };
    this.messages.clear();
    this.older = null;
    if (!refresh) this.viewers = []; // presence comes from the websocket, not from the reload
    clear(this.list);
    this.root.hidden = false;
    this.root.setAttribute("aria-busy", "true");
    if (summary) this.renderHeader();
    try {
      const [conversation, page] = await Promise.all([api.conversation(id), api.messages(id)]);
      if (generation !== this.generation) return;
      this.conversation = { ...conversation, ...this.heardWhileLoading };
      this.heardWhileLoading = null;
      this.renderHeader();
      this.composer.setConversation(this.conversation, { keepDraft: refresh });
      this.older = page && page.previous;
      // events heard while loading are merged over the page (they may be newer)
      for (const message of rows(page)) this.messages.set(message.id, mergeMessage(message, this.messages.get(message.id) || {}));
      this.renderAll();
      this.scrollToBottom();
      this.onConversation(this.conversation);
      this.markRead();
      this.composer.focus();
      this.fillUp();
    } catch (error) {
      if (generation === this.generation) {
        this.onError(error);
        if (error.status === 404) this.onBack(); // not theirs (or gone): back to "choose a chat", nothing shown
      }
    } finally {
      if (generation === this.generation) {
        this.heardWhileLoading = null;
        this.root.setAttribute("aria-busy", "false");
      }
    }
  }

  close() {
    this.generation++;
    this.conversation = null;
    this.messages.clear();
    this.root.hidden = true;
  }

  async markRead() {
    const conversation = this.conversation;
    if (!conversation || document.visibilityState !== "visible") return;
    try {
      const updated = await api.action(conversation.id, "read");
      // Only what reading changes: the rest of this answer may be older than an event heard meanwhile
      // (a failed reply's attention flag, committed while this request was on its way).
      if (updated && updated.id) this.update({ id: updated.id, unread_count: updated.unread_count });
    } catch (error) {
      if (error.status !== 404) console.warn("read failed", error);
    }
  }

  /** Merge conversation fields (an event, an action's answer). */
  update(data) {
    if (!this.conversation || Number(data.id) !== this.conversation.id) return;
    if (this.heardWhileLoading) {
      Object.assign(this.heardWhileLoading, data); // applied when the load ends
      return;
    }
    this.conversation = { ...this.conversation, ...data };
    this.renderHeader();
    this.composer.setConversation(this.conversation, { keepDraft: true });
    this.onConversation(this.conversation);
  }

  // Messages

  renderAll() {
    clear(this.list);
    let day = null;
    const sorted = [...this.messages.values()].filter(shown).sort(byTime);
    for (const message of sorted) {
      const date = parse(message.created_at);
      const key = date ? dayKey(date) : null;
      if (key && key !== day) {
        this.list.append(h("li", { class: "day", dataset: { day: key } }, h("span", {}, dayLabel(date))));
        day = key;
      }
      this.list.append(this.renderOne(message));
    }
    this.olderStatus.textContent = this.older ? "" : sorted.length ? t("Start of the conversation") : t("No messages yet");
  }

  renderOne(message) {
    return renderMessage(message, (id) => this.messages.get(id));
  }

  /** A message created or changed: live event or our own send. */
  upsert(message) {
    if (!this.conversation || Number(message.conversation_id) !== this.conversation.id) return;
    if (message.kind === "reaction") {
      // Shown on the message it reacts to: the newest page carries the reactions, merged in place.
      this.refreshLatest();
      return;
    }
    const known = this.messages.get(message.id);
    const merged = mergeMessage(known, message);
    this.messages.set(message.id, merged);
    const existing = document.getElementById(`m-${message.id}`);
    if (existing && this.list.contains(existing)) {
      const atBottom = this.isNearBottom(); // a change may make it taller (a failure note, a photo)
      existing.replaceWith(keepPlaying(existing, this.renderOne(merged)));
      if (atBottom) this.scrollToBottom();
      return;
    }
    const nearBottom = this.isNearBottom();
    const last = [...this.messages.values()].filter(shown).sort(byTime).at(-1);
    if (last && last.id === merged.id) {
      const date = parse(merged.created_at);
      const lastDay = [...this.list.querySelectorAll("li.day")].at(-1);
      if (date && (!lastDay || lastDay.dataset.day !== dayKey(date))) {
        this.list.append(h("li", { class: "day", dataset: { day: dayKey(date) } }, h("span", {}, dayLabel(date))));
      }
      this.list.append(this.renderOne(merged));
      this.olderStatus.textContent = this.older ? "" : t("Start of the conversation");
    } else {
      this.renderAll(); // arrived out of order: redraw in place
    }
    if (nearBottom || merged.direction === "out") this.scrollToBottom(true);
    else this.jump.hidden = false;
    if (merged.direction === "in" && !known) {
      clearTimeout(this.readSoon);
      this.readSoon = setTimeout(() => this.markRead(), 400);
    }
  }

  async refreshLatest() {
    const conversation = this.conversation;
    try {
      const page = await api.messages(conversation.id);
      // The same chat still open? (By id: a conversation.updated event replaces the object.)
      if (!this.conversation || this.conversation.id !== conversation.id) return;
      for (const message of rows(page)) {
        if (message.kind === "reaction" || !this.messages.has(message.id)) continue;
        const merged = mergeMessage(this.messages.get(message.id), message);
        this.messages.set(message.id, merged);
        const el = document.getElementById(`m-${message.id}`);
        if (el) el.replaceWith(keepPlaying(el, this.renderOne(merged)));
      }
    } catch (error) {
      this.onError(error);
    }
  }

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM;
  }

  scrollToBottom(smooth = false) {
    this.jump.hidden = true;
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? "smooth" : "auto" });
  }

  onScroll() {
    if (this.isNearBottom()) this.jump.hidden = true;
    if (this.scroller.scrollTop < LOAD_OLDER_AT) this.loadOlder();
  }

  /** A short first page on a tall screen: keep loading older until the history can scroll. */
  fillUp() {
    if (this.older && this.scroller.scrollHeight <= this.scroller.clientHeight + LOAD_OLDER_AT) this.loadOlder();
  }

  async loadOlder() {
    if (this.loadingOlder || !this.older || !this.conversation) return;
    const generation = this.generation;
    this.loadingOlder = true;
    this.olderStatus.textContent = t("Loading older messages…");
    try {
      const page = await api.page(this.older);
      if (generation !== this.generation) return;
      const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
      this.older = page && page.previous;
      for (const message of rows(page)) if (!this.messages.has(message.id)) this.messages.set(message.id, message);
      this.renderAll();
      this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom; // keep what the agent was reading in place
    } catch (error) {
      this.onError(error);
      this.olderStatus.textContent = "";
    } finally {
      this.loadingOlder = false;
      if (generation === this.generation) this.fillUp();
    }
  }

  // Header, presence, actions

  setViewers(viewers) {
    this.viewers = viewers.filter((v) => v.id !== api.config.user.id);
    this.renderPresence();
  }

  renderPresence() {
    const el = this.header.querySelector("[data-presence]");
    if (!el) return;
    clear(el);
    if (this.viewers.length) el.append(icon("eye"), t("Also viewing: %(names)s", { names: this.viewers.map((v) => v.name).join(", ") }));
    el.hidden = !this.viewers.length;
  }

  renderHeader() {
    const c = this.conversation;
    if (!c) return;
    const contact = c.contact || {};
    const name = contact.name || contact.phone || t("Unknown");
    const sub = [contact.phone, platformLabel(c.platform), c.channel && c.channel.name].filter(Boolean).join(" · ");
    const status = h("span", { class: `status status-${c.status}` }, statusLabel(c.status));
    const assigned = c.assigned_to ? h("span", { class: "assigned" }, t("with %(name)s", { name: c.assigned_to.name })) : null;
    const primary = c.status === "closed"
      ? h("button", { type: "button", class: "btn", "data-action": "reopen", onclick: () => this.act("reopen") }, t("Reopen"))
      : c.status === "human"
        ? h("button", { type: "button", class: "btn", "data-action": "release", onclick: () => this.act("release") }, t("Release to bot"))
        : h("button", { type: "button", class: "btn primary", "data-action": "takeover", onclick: () => this.act("takeover") }, t("Take over"));
    // A live update of the chat (a read mark, another agent's change) must not close the menu in use.
    const menuWasOpen = Boolean(this.header.querySelector(".menu:not([hidden])"));
    const menu = this.buildMenu(c);
    if (menuWasOpen) {
      menu.querySelector(".menu").hidden = false;
      menu.querySelector("[aria-haspopup]").setAttribute("aria-expanded", "true");
    }
    clear(this.header).append(
      h("button", { type: "button", class: "icon-btn back", "aria-label": t("Back to chats"), onclick: () => this.onBack() }, icon("arrow-left")),
      h("span", { class: "avatar", style: `--hue:${avatarHue(contact.id || c.id)}`, "aria-hidden": "true" }, initials(name)),
      h("div", { class: "who" },
        h("h2", { class: "chat-name", "data-chat-name": "" }, name, contact.alias && contact.profile_name && contact.alias !== contact.profile_name ? h("span", { class: "profile-name" }, ` ~ ${contact.profile_name}`) : null),
        h("div", { class: "chat-sub" }, sub, " ", status, " ", assigned,
          (c.roles || []).map((r) => h("span", { class: "role" }, r.name)),
          c.bot_paused && c.status !== "human" ? h("span", { class: "paused" }, t("bot paused")) : null),
        h("div", { class: "presence", "data-presence": "", hidden: true })),
      h("div", { class: "header-actions" }, primary, menu));
    this.renderPresence();
    this.banner.hidden = !c.needs_attention;
    this.banner.textContent = c.needs_attention ? (attentionText(c.attention_reason) || t("This chat needs attention.")) : "";
  }

  buildMenu(c) {
    const items = [
      [t("Set alias…"), () => this.aliasDialog(), "alias"],
      [t("Roles…"), () => this.rolesDialog(), "roles"],
      c.status === "closed" ? [t("Reopen"), () => this.act("reopen"), "reopen"] : [t("Close chat"), () => this.act("close"), "close"],
      [t("Restart the flow"), () => this.confirmRestart(), "restart"],
      [t("Mark as unread"), () => this.act("unread"), "unread"],
      null,
      [t("Export JSON"), null, "export-json", api.exportUrl(c.id, "json")],
      [t("Export CSV"), null, "export-csv", api.exportUrl(c.id, "csv")],
    ];
    const list = h("div", { class: "menu", role: "menu", hidden: true });
    const toggle = h("button", { type: "button", class: "icon-btn", "aria-haspopup": "menu", "aria-expanded": "false", "aria-label": t("Chat actions"), title: t("Chat actions") }, icon("ellipsis-vertical"));
    const hide = () => {
      list.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
    };
    for (const item of items) {
      if (!item) {
        list.append(h("hr"));
        continue;
      }
      const [label, run, key, href] = item;
      list.append(href
        ? h("a", { role: "menuitem", href, download: "", "data-action": key, onclick: hide }, label)
        : h("button", { type: "button", role: "menuitem", "data-action": key, onclick: () => { hide(); run(); } }, label));
    }
    toggle.addEventListener("click", () => {
      list.hidden = !list.hidden;
      toggle.setAttribute("aria-expanded", String(!list.hidden));
      if (!list.hidden) list.querySelector("[role=menuitem]").focus();
    });
    list.addEventListener("keydown", (event) => {
      const entries = [...list.querySelectorAll("[role=menuitem]")];
      const index = entries.indexOf(document.activeElement);
      if (event.key === "Escape") {
        hide();
        toggle.focus();
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        entries[(index + (event.key === "ArrowDown" ? 1 : -1) + entries.length) % entries.length].focus();
      }
    });
    return h("div", { class: "menu-wrap" }, toggle, list);
  }

  async act(name) {
    const c = this.conversation;
    if (!c) return;
    try {
      const updated = await api.action(c.id, name);
      if (updated && updated.id) this.update(updated);
      const notices = {
        takeover: t("You took over this chat: the bot stays silent until you release it."),
        release: t("Released: the bot answers this chat again."),
        close: t("Chat closed."),
        reopen: t("Chat reopened."),
        restart: t("The flow was restarted."),
        unread: t("Marked as unread."),
      };
      if (notices[name]) this.onNotice(notices[name]);
    } catch (error) {
      this.onError(error);
    }
  }

  async confirmRestart() {
    await formDialog({
      title: t("Restart the flow?"),
      body: h("p", {}, t("The bot starts this customer's flow from the beginning. The history stays.")),
      submitLabel: t("Restart"),
      onSubmit: () => this.act("restart"),
    });
  }

  async aliasDialog() {
    const c = this.conversation;
    const input = h("input", { name: "alias", maxlength: "100", value: (c.contact && c.contact.alias) || "" });
    await formDialog({
      title: t("Set alias"),
      body: field(t("Alias"), input, t("Shown instead of the WhatsApp profile name. Leave empty to use the profile name.")),
      onSubmit: async () => {
        const updated = await api.update(c.id, { alias: input.value.trim() });
        this.update(updated);
      },
    });
  }

  async rolesDialog() {
    const c = this.conversation;
    const current = new Set((c.roles || []).map((r) => r.id));
    const boxes = api.config.roles.map((role) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: String(role.id), checked: current.has(role.id) }), " ", role.name));
    await formDialog({
      title: t("Roles"),
      body: h("div", {}, h("p", { class: "hint" }, t("Agents holding one of these roles see this chat. A chat without roles goes to everyone who may take unrouted chats.")),
        boxes.length ? h("div", { class: "checks" }, boxes) : h("p", {}, t("No roles exist yet. Create them under Team > Roles."))),
      onSubmit: async () => {
        const ids = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => Number(i.value));
        const updated = await api.update(c.id, { roles: ids });
        this.update(updated);
      },
    });
  }
}

/**
 * The re-rendered message keeps the audio and video elements of the old one when their file is the same:
 * an agent listening to a voice note is not cut off when its transcription arrives. Moved within one task,
 * a playing element is back in the document before the browser would pause it.
 */
function keepPlaying(oldEl, newEl) {
  for (const fresh of newEl.querySelectorAll("audio, video")) {
    const src = fresh.getAttribute("src");
    const playing = [...oldEl.querySelectorAll(fresh.tagName)].find((media) => media.getAttribute("src") === src);
    if (src && playing) fresh.replaceWith(playing);
  }
  return newEl;
}
