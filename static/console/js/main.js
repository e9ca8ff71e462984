// The console page: wires the chat list, the open chat, the composer and the websocket together.

import { api, toLogin } from "./api.js";
import { debounce, h, icon } from "./dom.js";
import { ChatView } from "./chat.js";
import { Composer } from "./compose.js";
import { t } from "./i18n.js";
import { ChatList } from "./list.js";
import { ConsoleSocket } from "./socket.js";

const app = document.querySelector("[data-console]");
const toasts = document.querySelector("[data-toasts]");
const connection = document.querySelector("[data-connection]");

function toast(text, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text,
    h("button", { type: "button", class: "icon-btn", "aria-label": t("Dismiss"), onclick: () => el.remove() }, icon("x")));
  if (kind !== "error") for (const old of toasts.querySelectorAll(".toast:not(.error)")) old.remove(); // the latest news only
  toasts.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 4000);
}

const showError = (error) => toast(error && error.message ? error.message : String(error), "error");

const list = new ChatList(document.querySelector("[data-chat-list]"), {
  onOpen: (id) => openChat(id),
  onError: showError,
});

const composer = new Composer(document.querySelector("[data-composer]"), {
  onSent: (conversationId, message) => {
    // A quick reply may be several messages (its text, then each file): {...first, messages: [...]}.
    for (const one of (message && message.messages) || [message]) if (one && one.id) chat.upsert(one);
  },
  onError: showError,
  onWindowClosed: (conversationId, reason) => {
    toast(reason || t("The 24-hour window is closed: send a template."), "error");
    chat.update({ id: conversationId, window_open: false });
  },
});

const chat = new ChatView(document.querySelector("[data-chat]"), {
  composer,
  onConversation: (conversation) => list.merge(conversation),
  onError: showError,
  onBack: () => {
    window.location.hash = "";
  },
  onNotice: (text) => toast(text),
});

let loaded = false;
const socketUrl = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}${api.config.urls.websocket}`;
const socket = new ConsoleSocket(socketUrl, {
  onEvent: (name, data) => {
    if (name === "conversation.updated") {
      list.merge(data);
      chat.update(data);
    } else if (name === "message.created") {
      list.noteMessage(data);
      chat.upsert(data);
    } else if (name === "message.updated") {
      chat.upsert(data);
    }
  },
  onPresence: (conversationId, viewers) => {
    if (chat.id === Number(conversationId)) chat.setViewers(viewers);
  },
  onResync: () => loadState(),
  onReady: () => loadState(),
  onState: (state) => {
    app.dataset.connection = state;
    if (state === "refused") {
      // no session any more (4401): log in again; a foreign origin (4403) cannot happen from this page
      api.page(api.config.urls.me).catch(() => toLogin());
    }
    if (!loaded && (state === "reconnecting" || state === "refused")) loadState(); // no live updates: load anyway
    connection.hidden = state === "live" || state === "connecting";
    connection.textContent = state === "refused"
      ? t("Live updates were refused: reload the page or log in again.")
      : t("Reconnecting… new messages will appear when the connection is back.");
  },
});

function openChat(id) {
  const hash = `#chat-${id}`;
  if (window.location.hash !== hash) window.location.hash = hash;
  else route();
}

function route() {
  const match = window.location.hash.match(/^#chat-(\d+)$/);
  const id = match ? Number(match[1]) : null;
  app.classList.toggle("show-chat", id !== null);
  list.setActive(id);
  if (id === null) {
    chat.close();
    document.querySelector("[data-placeholder]").hidden = false;
    socket.setViewing(null);
    return;
  }
  document.querySelector("[data-placeholder]").hidden = true;
  if (chat.id !== id) {
    chat.open(id, list.get(id) || null);
    socket.setViewing(id);
  }
}

// Filters and search
const filters = document.querySelector("[data-filters]");
const search = filters.querySelector("[data-search]");
search.addEventListener("input", debounce(() => list.setFilters({ q: search.value }), 250));
search.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && search.value) {
    search.value = "";
    list.setFilters({ q: "" });
  }
});
filters.querySelector("[data-filter-status]").addEventListener("change", (event) => list.setFilters({ status: event.target.value }));
const roleFilter = filters.querySelector("[data-filter-role]");
if (roleFilter) roleFilter.addEventListener("change", (event) => list.setFilters({ role: event.target.value }));
const channelFilter = filters.querySelector("[data-filter-channel]");
if (channelFilter) channelFilter.addEventListener("change", (event) => list.setFilters({ channel: event.target.value }));
for (const toggle of filters.querySelectorAll("[data-filter-toggle]")) {
  toggle.addEventListener("click", () => {
    const pressed = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(pressed));
    list.setFilters({ [toggle.dataset.filterToggle]: pressed });
  });
}

// The bot simulator's test chats stay hidden unless asked for (marked "test chat" when shown).
const testToggle = filters.querySelector("[data-test-toggle]");
testToggle.addEventListener("click", () => {
  const shown = testToggle.getAttribute("aria-pressed") !== "true";
  testToggle.setAttribute("aria-pressed", String(shown));
  app.classList.toggle("show-test-chats", shown);
  list.updateEmpty();
  list.fillViewport();
});

// Keyboard: "/" or Ctrl+K focuses the search (outside text fields), Escape leaves a chat on a phone.
document.addEventListener("keydown", (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if ((event.key === "k" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && !typing)) {
    event.preventDefault();
    search.focus();
    search.select();
  }
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && chat.id !== null) chat.markRead();
});

window.addEventListener("hashchange", route);
setInterval(() => list.tick(), 60000);

function loadState() {
  loaded = true;
  list.reload();
  if (chat.id !== null) chat.open(chat.id, chat.conversation);
  else route();
}

socket.start();
// Without live updates (the websocket refused or slow) the page still loads its state.
setTimeout(() => {
  if (!loaded) loadState();
}, 3000);
// Outside the 24-hour window a chat's composer switches to templates, even with nobody writing.
setInterval(() => {
  const c = chat.conversation;
  if (!c || !c.contact) return;
  if (c.window_open && c.window_closes_at && Date.parse(c.window_closes_at) <= Date.now()) chat.update({ id: c.id, window_open: false });
  else composer.setConversation(c, { keepDraft: true }); // "n min left"
}, 30000);
app.dataset.ready = "true";
