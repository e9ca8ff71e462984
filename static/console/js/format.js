// Dates in the business's time zone, in the page's language.

import { api } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

const { language, timeZone } = api.config;
const timeFormat = new Intl.DateTimeFormat(language, { timeZone, hour: "2-digit", minute: "2-digit" });
const weekdayFormat = new Intl.DateTimeFormat(language, { timeZone, weekday: "long" });
const dateFormat = new Intl.DateTimeFormat(language, { timeZone, day: "numeric", month: "short", year: "numeric" });
const fullFormat = new Intl.DateTimeFormat(language, { timeZone, dateStyle: "full", timeStyle: "short" });
const dayKeyFormat = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });

export function parse(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export const dayKey = (date) => dayKeyFormat.format(date);

function daysAgo(date, now = new Date()) {
  const a = Date.parse(dayKey(date));
  const b = Date.parse(dayKey(now));
  return Math.round((b - a) / 86400000);
}

export const clock = (value) => {
  const date = parse(value);
  return date ? timeFormat.format(date) : "";
};

export const full = (value) => {
  const date = parse(value);
  return date ? fullFormat.format(date) : "";
};

/** The chat list's time: the hour today, "yesterday", the weekday this week, else the date. */
export function listTime(value) {
  const date = parse(value);
  if (!date) return "";
  const days = daysAgo(date);
  if (days <= 0) return timeFormat.format(date);
  if (days === 1) return t("Yesterday");
  if (days < 7) return weekdayFormat.format(date);
  return dateFormat.format(date);
}

/** The separator between days in a conversation. */
export function dayLabel(date) {
  const days = daysAgo(date);
  if (days <= 0) return t("Today");
  if (days === 1) return t("Yesterday");
  if (days < 7) return weekdayFormat.format(date);
  return dateFormat.format(date);
}

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function statusLabel(status) {
  return (
    {
      bot: t("Bot"),
      ai: t("AI"),
      human: t("Agent"),
      closed: t("Closed"),
    }[status] || status
  );
}

/** The platform a customer writes from, by name (Instagram and Facebook chats come through Chatwoot). */
export function platformLabel(platform) {
  return { whatsapp: "WhatsApp", instagram: "Instagram", facebook: "Facebook" }[platform] || "";
}

/** A small chip naming the platform, coloured after it; nothing for an unknown one. */
export function platformChip(platform) {
  const label = platformLabel(platform);
  return label ? h("span", { class: `platform platform-${platform}`, title: t("Writes from %(platform)s", { platform: label }) }, label) : null;
}

export function untilLabel(value) {
  const date = parse(value);
  if (!date) return "";
  const minutes = Math.max(0, Math.round((date.getTime() - Date.now()) / 60000));
  if (minutes < 60) return t("%(n)s min left", { n: minutes });
  return t("%(n)s h left", { n: Math.floor(minutes / 60) });
}

/** Why a chat needs attention, in the agent's language: live events carry the reason as stored
 * (its English original), the REST API already translated; anything else is shown as it is. */
export function attentionText(reason) {
  const known = api.config.attentionReasons || {};
  return Object.prototype.hasOwnProperty.call(known, reason) ? known[reason] : reason;
}

/** Why a voice note was not transcribed or an image not described, in the agent's language: by its
 * reason code (one live event reaches agents of every language), else the label the server sent. */
export function enrichmentText(enrichment) {
  if (!enrichment) return "";
  const known = api.config.enrichmentReasons || {};
  const reason = enrichment.reason || "";
  if (Object.prototype.hasOwnProperty.call(known, reason)) return known[reason];
  return enrichment.label || reason;
}
