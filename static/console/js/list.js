// The chat list: filters, search, infinite scroll, live merges from websocket events.

import { api, rows } from "./api.js";
import { clear, h } from "./dom.js";
import { attentionText, listTime, platformChip, statusLabel } from "./format.js";
import { t } from "./i18n.js";

const PAGE_ROWS_AHEAD = "600px"; // load the next page this far before the end comes into view

export function initials(name) {
  const words = String(name || "?").replace(/[^\p{L}\p{N} ]/gu, " ").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "#";
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
}

export function avatarHue(id) {
  return (Number(id) * 47) % 360;
}

export class ChatList {
  constructor(root, { onOpen, onError }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onError = onError;
    this.listEl = root.querySelector("[data-list]");
    this.emptyEl = root.querySelector("[data-empty]");
    this.sentinel = root.querySelector("[data-sentinel]");
    this.items = new Map(); // id -> conversation
    this.rows = new Map(); // id -> row element
    this.filters = { status: "", role: "", channel: "", unread: false, attention: false, q: "" };
    this.next = null;
    this.loading = false;
    this.generation = 0;
    this.activeId = null;
    this.fetching = new Map(); // id -> {again}: one fetch per chat at a time, again if an event came meanwhile
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { root: this.listEl.parentElement, rootMargin: `0px 0px ${PAGE_ROWS_AHEAD} 0px` });
    this.observer.observe(this.sentinel);
    this.listEl.addEventListener("keydown", (event) => this.onKey(event));
  }

  setFilters(changes) {
    Object.assign(this.filters, changes);
    this.reload();
  }

  params() {
    const f = this.filters;
    return { status: f.status, role: f.role, channel: f.channel, unread: f.unread ? 1 : "", attention: f.attention ? 1 : "", q: f.q.trim() };
  }

  async reload() {
    const generation = ++this.generation;
    this.loading = true;
    this.root.classList.add("is-loading");
    try {
      const data = await api.conversations(this.params());
      if (generation !== this.generation) return;
      this.items.clear();
      this.rows.clear();
      clear(this.listEl);
      this.next = data && data.next;
      for (const conversation of rows(data)) this.put(conversation, { append: true });
      this.updateEmpty();
    } catch (error) {
      if (generation === this.generation) this.onError(error);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.root.classList.remove("is-loading");
        this.updateEmpty();
        this.fillViewport();
      }
    }
  }

  async loadMore() {
    if (this.loading || !this.next) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const data = await api.page(this.next);
      if (generation !== this.generation) return;
      this.next = data && data.next;
      for (const conversation of rows(data)) if (!this.items.has(conversation.id)) this.put(conversation, { append: true });
    } catch (error) {
      this.onError(error);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.fillViewport();
      }
    }
  }

  /** Keep loading while the sentinel is still visible (a tall screen shows more than one page). */
  fillViewport() {
    if (!this.next) return;
    const box = this.listEl.parentElement.getBoundingClientRect();
    if (this.sentinel.getBoundingClientRect().top < box.bottom + 600) this.loadMore(); // hidden test chats shorten a page too
  }

  matches(c) {
    const f = this.filters;
    if (f.status && c.status !== f.status) return false;
    if (f.role && !(c.roles || []).some((r) => String(r.id) === String(f.role))) return false;
    if (f.channel && !(c.channel && String(c.channel.id) === String(f.channel))) return false;
    if (f.unread && !(c.unread_count > 0)) return false;
    if (f.attention && !c.needs_attention) return false;
    if (f.q.trim()) {
      const q = f.q.trim().toLowerCase();
      const contact = c.contact || {};
      const hay = [contact.name, contact.alias, contact.profile_name, contact.phone, c.last_message_preview];
      if (!hay.some((v) => v && String(v).toLowerCase().includes(q))) return false;
    }
    return true;
  }

  get(id) {
    return this.items.get(Number(id));
  }

  /** Merge a (possibly partial) conversation from an event or an action; fetch it when it is new to us. */
  async merge(data) {
    const id = Number(data.id);
    const known = this.items.get(id);
    const inFlight = this.fetching.get(id);
    if (inFlight) {
      inFlight.again = true; // the fetch under way may predate this event: fetch once more after it
      if (!known) return null;
    }
    if (known) {
      const merged = { ...known, ...data };
      if (!this.matches(merged) && id !== this.activeId) {
        this.remove(id);
        return merged;
      }
      this.put(merged);
      return merged;
    }
    if (data.contact && data.channel && data.roles) {
      if (this.matches(data)) this.put(data);
      return data;
    }
    return this.fetchAndPut(id);
  }

  /** Load a chat an event told us about; the answer is at least as new as every event seen before it ends. */
  async fetchAndPut(id) {
    const state = { again: false };
    this.fetching.set(id, state);
    let full = null;
    try {
      do {
        state.again = false;
        full = await api.conversation(id);
      } while (state.again);
    } catch {
      return null; // not visible to this user (404), or gone
    } finally {
      this.fetching.delete(id);
    }
    if (this.matches(full)) this.put(full);
    else if (this.items.has(id) && id !== this.activeId) this.remove(id);
    return full;
  }

  /** A new message moves its chat up with its preview (the server stores the same preview; a reply
   * queued by the bot or an agent comes as message.created alone). */
  noteMessage(message) {
    const id = Number(message.conversation_id);
    const known = this.items.get(id);
    if (!known) {
      this.merge({ id });
      return;
    }
    if (message.kind === "reaction" || !message.created_at) return;
    if (known.last_activity_at && Date.parse(message.created_at) < Date.parse(known.last_activity_at)) return;
    const preview = (message.text || message.caption || `[${message.kind}]`).slice(0, 200);
    this.put({ ...known, last_message_preview: preview, last_message_at: message.created_at, last_activity_at: message.created_at });
  }

  put(conversation, { append = false } = {}) {
    const id = Number(conversation.id);
    this.items.set(id, conversation);
    const row = this.renderRow(conversation);
    const old = this.rows.get(id);
    this.rows.set(id, row);
    if (old) old.replaceWith(row);
    if (append) this.listEl.append(row);
    else this.place(id, row);
    this.updateEmpty();
  }

  /** Newest activity first: move the row where it belongs among the loaded ones. */
  place(id, row) {
    const time = Date.parse(this.items.get(id).last_activity_at || 0) || 0;
    let before = null;
    for (const other of this.listEl.children) {
      if (other === row) continue;
      const otherTime = Date.parse((this.items.get(Number(other.dataset.id)) || {}).last_activity_at || 0) || 0;
      if (otherTime <= time) {
        before = other;
        break;
      }
    }
    if (before) {
      if (row.nextSibling !== before) this.listEl.insertBefore(row, before);
    } else if (!this.next || row.parentNode === this.listEl) {
      this.listEl.append(row); // older than everything loaded: it belongs at the end only if no page is left
    } else {
      this.rows.delete(id);
      this.items.delete(id);
      row.remove();
    }
  }

  remove(id) {
    const row = this.rows.get(id);
    if (row) row.remove();
    this.rows.delete(id);
    this.items.delete(id);
    this.updateEmpty();
  }

  setActive(id) {
    this.activeId = id === null ? null : Number(id);
    for (const [rowId, row] of this.rows) {
      row.classList.toggle("active", rowId === this.activeId);
      row.querySelector("button").setAttribute("aria-current", rowId === this.activeId ? "true" : "false");
    }
  }

  /** The tab's title counts the chats with unread messages (among those loaded), like WhatsApp Web. */
  updateTitle() {
    if (this.baseTitle === undefined) this.baseTitle = document.title;
    let unread = 0;
    for (const c of this.items.values()) if (c.unread_count > 0 && !c.is_test) unread += 1;
    document.title = unread ? `(${unread}) ${this.baseTitle}` : this.baseTitle;
  }

  updateEmpty() {
    this.updateTitle();
    const showTest = this.root.closest(".show-test-chats") !== null;
    const shown = showTest ? this.rows.size : [...this.items.values()].filter((c) => !c.is_test).length;
    const empty = shown === 0 && !this.loading;
    this.emptyEl.hidden = !empty;
    const filtered = Object.values(this.filters).some(Boolean);
    clear(this.emptyEl);
    if (filtered) this.emptyEl.append(t("No chats match these filters."));
    else this.emptyEl.append(h("strong", {}, t("No conversations yet")), h("br"), t("When customers write to your WhatsApp number, their chats appear here."));
  }

  renderRow(c) {
    const contact = c.contact || {};
    const name = contact.name || contact.phone || t("Unknown");
    const badges = h("span", { class: "badges" });
    if (c.needs_attention) {
      badges.append(h("span", { class: "attention", title: attentionText(c.attention_reason) || t("Needs attention"), "aria-label": t("Needs attention") }, "!"));
    }
    if (c.unread_count > 0) badges.append(h("span", { class: "unread", "aria-label": t("%(n)s unread", { n: c.unread_count }) }, String(c.unread_count)));
    const chips = h("span", { class: "chips" },
      h("span", { class: `status status-${c.status}` }, statusLabel(c.status)),
      c.platform && c.platform !== "whatsapp" ? platformChip(c.platform) : null, // WhatsApp is the usual case
      c.window_open
        ? h("span", { class: "window open", title: t("24-hour window open") }, t("open"))
        : h("span", { class: "window closed", title: c.platform === "whatsapp" ? t("24-hour window closed: templates only") : t("24-hour window closed: no replies until the customer writes") }, t("closed window")),
      (c.roles || []).map((r) => h("span", { class: "role" }, r.name)),
      c.is_test ? h("span", { class: "test" }, t("test chat")) : null,
    );
    const button = h("button", {
      type: "button",
      class: "chat-button",
      "aria-current": Number(c.id) === this.activeId ? "true" : "false",
      onclick: () => this.onOpen(Number(c.id)),
    },
      h("span", { class: "avatar", style: `--hue:${avatarHue(contact.id || c.id)}`, "aria-hidden": "true" }, initials(name)),
      h("span", { class: "chat-body" },
        h("span", { class: "line" },
          h("span", { class: "name" }, name),
          h("time", { class: "time", datetime: c.last_message_at || c.last_activity_at || "" }, listTime(c.last_message_at || c.last_activity_at)),
        ),
        h("span", { class: "line" },
          h("span", { class: "preview" }, c.last_message_preview || contact.phone || ""),
          badges,
        ),
        chips,
      ),
    );
    const classes = ["chat"];
    if (c.unread_count > 0) classes.push("has-unread");
    if (c.is_test) classes.push("is-test");
    if (Number(c.id) === this.activeId) classes.push("active");
    return h("li", { class: classes.join(" "), dataset: { id: String(c.id) } }, button);
  }

  /** Up/Down move between chats; Home/End jump. */
  onKey(event) {
    const buttons = [...this.listEl.querySelectorAll(".chat-button")];
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let target = null;
    if (event.key === "ArrowDown") target = buttons[Math.min(buttons.length - 1, index + 1)];
    else if (event.key === "ArrowUp") target = buttons[Math.max(0, index - 1)];
    else if (event.key === "Home") target = buttons[0];
    else if (event.key === "End") target = buttons[buttons.length - 1];
    if (target) {
      event.preventDefault();
      target.focus();
    }
  }

  /** Refresh relative times ("yesterday") once in a while. */
  tick() {
    for (const [id, row] of this.rows) {
      const c = this.items.get(id);
      const time = row.querySelector("time");
      if (time && c) time.textContent = listTime(c.last_message_at || c.last_activity_at);
    }
  }
}
