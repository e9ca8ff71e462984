// One message bubble: every kind of WhatsApp message, delivery ticks, origin, reply quote, reactions.

import { h, icon, safeUrl } from "./dom.js";
import { attentionText, clock, enrichmentText, full } from "./format.js";
import { t } from "./i18n.js";

const TICKS = {
  queued: ["clock", () => t("Queued")],
  sending: ["clock", () => t("Sending")],
  sent: ["check", () => t("Sent")],
  delivered: ["check-check", () => t("Delivered")],
  read: ["check-check", () => t("Read")],
  failed: ["circle-alert", () => t("Failed")],
};

export function kindLabel(kind) {
  return (
    {
      image: t("Photo"),
      audio: t("Voice note"),
      video: t("Video"),
      document: t("Document"),
      sticker: t("Sticker"),
      location: t("Location"),
      contacts: t("Contact"),
      reaction: t("Reaction"),
      referral: t("Ad referral"),
      template: t("Template"),
      interactive: t("Interactive reply"),
      button: t("Button reply"),
      list: t("List"),
      buttons: t("Buttons"),
      system: t("System"),
      unsupported: t("Unsupported message"),
    }[kind] || ""
  );
}

export function ticks(message) {
  const [symbol, label] = TICKS[message.status] || [null, null];
  if (!symbol) return null;
  const title = message.status === "failed" ? failureText(message) : label();
  return h("span", { class: `ticks ticks-${message.status}`, title, "aria-label": title, "data-status": message.status }, icon(symbol));
}

export function failureText(message) {
  // Our sentence in the agent's language first; the provider's own words (English) and code after it.
  const detail = [message.error_code, message.error].filter(Boolean).join(": ");
  if (message.failure_reason) {
    const reason = attentionText(message.failure_reason);
    return t("Not delivered: %(reason)s", { reason: detail ? `${reason} (${detail})` : reason });
  }
  const reason = message.error || t("The provider did not accept this message.");
  return t("Not delivered: %(reason)s", { reason: message.error_code ? `${reason} (${message.error_code})` : reason });
}

function originLabel(message) {
  if (message.direction !== "out") return null;
  if (message.origin === "rule") {
    const rule = message.rule || {};
    const what = rule.label || rule.step || "";
    return h("span", { class: "origin origin-rule", title: rule.step ? t("Step: %(step)s", { step: rule.step }) : null },
      what ? t("Bot rule: %(rule)s", { rule: what }) : t("Bot rule"));
  }
  if (message.origin === "ai") return h("span", { class: "origin origin-ai" }, t("AI answer"));
  if (message.origin === "agent") {
    return h("span", { class: "origin origin-agent" }, message.sent_by ? message.sent_by.name : t("Agent"));
  }
  if (message.origin === "system") return h("span", { class: "origin origin-system" }, t("System"));
  if (message.origin === "outside") {
    // Typed in Chatwoot or in the Instagram / Messenger app, not in this console.
    const who = message.outside_sender || t("Someone");
    return h("span", { class: "origin origin-outside", title: t("Sent from outside this console") }, t("%(name)s, outside the console", { name: who }));
  }
  return null;
}

function textBlock(text, cls = "text") {
  return text ? h("div", { class: cls, dir: "auto" }, text) : null;
}

function media(message) {
  const url = safeUrl(message.media_url);
  const kind = message.kind;
  if (!url) {
    if (["image", "audio", "video", "document", "sticker"].includes(kind)) {
      return h("div", { class: "media-missing" }, t("%(kind)s not available yet", { kind: kindLabel(kind) }));
    }
    return null;
  }
  if (kind === "image" || kind === "sticker") {
    return h("a", { class: `media media-${kind}`, href: url, target: "_blank", rel: "noopener" },
      h("img", { src: url, alt: message.caption || kindLabel(kind), loading: "lazy", decoding: "async" }));
  }
  if (kind === "audio") {
    return h("div", { class: "media media-audio" },
      h("audio", { controls: true, preload: "metadata", src: url, "aria-label": t("Voice note") }));
  }
  if (kind === "video") {
    return h("div", { class: "media media-video" }, h("video", { controls: true, preload: "metadata", src: url }));
  }
  const name = message.media_name || kindLabel(kind) || t("File");
  return h("a", { class: "media media-document", href: url, target: "_blank", rel: "noopener", download: message.media_name || true },
    h("span", { class: "doc-icon" }, icon("file-text")),
    h("span", { class: "doc-name" }, name),
    message.media_mime ? h("span", { class: "doc-type" }, message.media_mime) : null);
}

// What a voice note says or an image shows (the pipeline's transcription or description), or why not yet.
// Customer-derived text: set as text only (h() uses text nodes), in its own direction.

const UNDONE = new Set(["failed", "skipped", "unavailable"]);
const expanded = new Set(); // descriptions the agent opened: they stay open when a live update redraws the message

// The "more" button shows only when the clamped text overflows, which is known once it is laid out.
const clampWatcher = typeof ResizeObserver === "function"
  ? new ResizeObserver((entries) => {
    for (const { target } of entries) {
      if (!target.isConnected) { clampWatcher.unobserve(target); continue; } // the message was redrawn
      const more = target.parentElement && target.parentElement.querySelector(".more");
      if (more && target.classList.contains("clamped")) more.hidden = target.scrollHeight <= target.clientHeight + 1;
    }
  })
  : null;

function enrichmentState(message, offIcon) {
  const enrichment = message.enrichment;
  if (!enrichment) return null;
  if (enrichment.state === "queued") {
    const text = message.kind === "audio" ? t("Transcribing…") : t("Describing…");
    return h("div", { class: "enrichment enrichment-queued", role: "status" }, h("span", { class: "spinner" }, icon("loader-circle")), text);
  }
  if (UNDONE.has(enrichment.state)) {
    const title = [enrichment.backend, enrichment.reason].filter(Boolean).join(" · ") || null;
    return h("div", { class: `enrichment enrichment-${enrichment.state}`, title, dataset: { reason: enrichment.reason || "" } },
      icon(offIcon), h("span", {}, enrichmentText(enrichment)));
  }
  return null;
}

function transcription(message) {
  if (message.kind !== "audio") return null;
  if (message.transcription) {
    return h("div", { class: "enrichment-block transcription" },
      h("span", { class: "label" }, t("Transcription")),
      h("span", { class: "enrichment-text", dir: "auto" }, message.transcription));
  }
  return enrichmentState(message, "mic-off");
}

function description(message) {
  if (message.kind !== "image") return null;
  const text = message.image_description;
  if (!text) return enrichmentState(message, "image-off");
  const ocr = message.enrichment && message.enrichment.source === "ocr";
  const open = expanded.has(message.id);
  const body = h("div", { class: `enrichment-text${open ? "" : " clamped"}`, dir: "auto" }, text);
  const more = h("button", { type: "button", class: "more", hidden: !open, "aria-expanded": open ? "true" : "false" }, open ? t("less") : t("more"));
  more.addEventListener("click", () => {
    const opening = body.classList.contains("clamped");
    body.classList.toggle("clamped", !opening);
    if (opening) expanded.add(message.id);
    else expanded.delete(message.id);
    more.setAttribute("aria-expanded", opening ? "true" : "false");
    more.textContent = opening ? t("less") : t("more");
  });
  if (clampWatcher) clampWatcher.observe(body);
  return h("div", { class: `enrichment-block description description-${ocr ? "ocr" : "vision"}` },
    h("span", { class: "label" }, ocr ? t("Text read in the image") : t("Image description")), body, more);
}

function location(loc) {
  if (!loc) return null;
  const lat = Number(loc.latitude);
  const lon = Number(loc.longitude);
  const valid = Number.isFinite(lat) && Number.isFinite(lon);
  const href = valid ? `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}` : null;
  return h("div", { class: "card card-location" },
    h("span", { class: "card-icon" }, icon("map-pin")),
    h("div", {},
      h("div", { class: "card-title" }, loc.name || t("Location")),
      loc.address ? h("div", { class: "card-sub" }, loc.address) : null,
      valid ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, `${lat.toFixed(5)}, ${lon.toFixed(5)}`) : null));
}

function contacts(list) {
  if (!Array.isArray(list) || !list.length) return null;
  return list.map((c) => {
    const name = (c.name && (c.name.formatted_name || [c.name.first_name, c.name.last_name].filter(Boolean).join(" "))) || t("Contact");
    const phones = (c.phones || []).map((p) => p.phone || p.wa_id).filter(Boolean);
    const emails = (c.emails || []).map((e) => e.email).filter(Boolean);
    return h("div", { class: "card card-contact" },
      h("span", { class: "card-icon" }, icon("user")),
      h("div", {},
        h("div", { class: "card-title" }, name),
        phones.map((p) => h("div", { class: "card-sub" }, p)),
        emails.map((e) => h("div", { class: "card-sub" }, e)),
        c.org && c.org.company ? h("div", { class: "card-sub" }, c.org.company) : null));
  });
}

function referral(ref) {
  if (!ref) return null;
  const url = safeUrl(ref.source_url);
  const image = safeUrl(ref.thumbnail_url || ref.image_url);
  return h("div", { class: "card card-referral" },
    h("div", { class: "card-kicker" }, icon("megaphone"), " ", t("From an ad")),
    image ? h("img", { src: image, alt: "", loading: "lazy", referrerpolicy: "no-referrer" }) : null,
    ref.headline ? h("div", { class: "card-title" }, ref.headline) : null,
    ref.body ? h("div", { class: "card-sub", dir: "auto" }, ref.body) : null,
    url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, ref.source_type ? `${ref.source_type} · ${t("Open ad")}` : t("Open ad")) : null);
}

function interactive(data) {
  if (!data) return null;
  if (data.type === "buttons") {
    return h("div", { class: "interactive" },
      (data.buttons || []).map((b) => h("span", { class: "i-button" }, b.title || (b.reply && b.reply.title) || "")));
  }
  if (data.type === "list") {
    return h("div", { class: "interactive" },
      data.button ? h("span", { class: "i-button" }, `☰ ${data.button}`) : null,
      (data.sections || []).map((s) => h("div", { class: "i-section" },
        s.title ? h("div", { class: "i-section-title" }, s.title) : null,
        (s.rows || []).map((r) => h("div", { class: "i-row" }, h("strong", {}, r.title || ""), r.description ? ` · ${r.description}` : "")))));
  }
  return null;
}

function quote(reply, lookup) {
  if (!reply) return null;
  const target = lookup(reply.id);
  const text = reply.text || (target && (target.text || target.caption)) || kindLabel(reply.kind) || t("Message");
  return h("a", { class: "quote", href: `#m-${reply.id}`, onclick: (event) => {
    const el = document.getElementById(`m-${reply.id}`);
    if (el) {
      event.preventDefault();
      el.scrollIntoView({ block: "center", behavior: "smooth" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1200);
    }
  } }, text);
}

export function renderMessage(message, lookup = () => null) {
  const out = message.direction === "out";
  if (message.kind === "system") {
    return h("li", { class: "event-line", id: `m-${message.id}`, dataset: { id: String(message.id) } }, message.text || t("System"));
  }
  const body = [];
  body.push(quote(message.reply_to, lookup));
  if (message.template) {
    body.push(h("div", { class: "template-tag" }, t("Template: %(name)s (%(language)s)", { name: message.template.name, language: message.template.language })));
  }
  if (message.kind === "reaction") {
    body.push(h("div", { class: "text reaction-line" }, t("Reacted %(emoji)s", { emoji: message.text || "" })));
  } else if (message.kind === "unsupported") {
    body.push(h("div", { class: "text muted" }, t("This message type is not supported by WhatsApp's API.")));
  } else {
    body.push(media(message));
    body.push(transcription(message));
    // A location's or contact card's text is the parser's one-line summary of the card shown below.
    const card = (message.kind === "location" && message.location) || (message.kind === "contacts" && (message.contacts || []).length);
    if (!card) body.push(textBlock(message.text));
    if (message.caption && message.caption !== message.text) body.push(textBlock(message.caption, "text caption"));
    body.push(description(message));
    body.push(location(message.location));
    body.push(contacts(message.contacts));
    body.push(referral(message.referral));
    body.push(interactive(message.interactive));
  }
  const meta = h("div", { class: "meta" },
    originLabel(message),
    h("time", { datetime: message.created_at || "", title: full(message.created_at) }, clock(message.created_at)),
    out ? ticks(message) : null);
  const bubble = h("div", { class: "bubble" }, body, meta);
  const failed = out && message.status === "failed" ? h("div", { class: "failure", role: "note" }, failureText(message)) : null;
  const reactions = (message.reactions || []).length
    ? h("div", { class: "reactions" }, message.reactions.map((r) => h("span", { title: r.from === "agent" ? t("Agent") : t("Customer") }, r.emoji)))
    : null;
  return h("li", {
    class: `msg ${out ? "out" : "in"} kind-${message.kind} status-${message.status}`,
    id: `m-${message.id}`,
    dataset: { id: String(message.id) },
  }, bubble, reactions, failed);
}
