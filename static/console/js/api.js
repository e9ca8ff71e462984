// REST calls to /api/ (session auth): JSON in and out, the CSRF token on every write, errors as ApiError.

import { t } from "./i18n.js";

const config = JSON.parse(document.getElementById("console-config").textContent);

export class ApiError extends Error {
  constructor(status, body, url = "") {
    super(ApiError.describe(status, body, url));
    this.status = status;
    this.body = body;
    this.code = body && typeof body === "object" ? body.code : undefined;
  }

  static describe(status, body, url = "") {
    // A chat's 404 means one the user may not (or no longer) see: one sentence, whatever the server said.
    if (status === 404 && String(url).startsWith(config.urls.conversations)) return t("This chat is no longer available to you.");
    if (body && typeof body === "object") {
      if (typeof body.detail === "string") return body.detail;
      // The server's messages name what is wrong in the user's language; the API's field names
      // (file, caption, buttons, ...) are English keys, so they are left out.
      const parts = [];
      const collect = (errors) => {
        if (typeof errors === "string") parts.push(errors);
        else if (Array.isArray(errors)) errors.forEach(collect);
        else if (errors && typeof errors === "object") Object.values(errors).forEach(collect);
      };
      collect(body);
      const unique = [...new Set(parts)];
      if (unique.length) return unique.join(" · ");
    }
    if (status === 0) return t("The server cannot be reached. Check your connection.");
    if (status === 403) return t("You are not allowed to do this.");
    return t("Something went wrong (error %(status)s).", { status });
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : config.csrfToken;
}

export async function request(method, url, { json, form, signal } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(url, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, null);
  }
  if (response.status === 401 || (response.status === 403 && url !== config.urls.me && !(await sessionAlive()))) {
    toLogin();
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, data, url);
  return data;
}

/** A 403 is either a refused action or a session that ended (logged out elsewhere, expired). */
async function sessionAlive() {
  try {
    return (await fetch(config.urls.me, { credentials: "same-origin", headers: { Accept: "application/json" } })).ok;
  } catch {
    return true; // offline: not a reason to leave the page
  }
}

export function toLogin() {
  window.location.href = `${config.loginUrl}?next=${encodeURIComponent(window.location.pathname + window.location.hash)}`;
}

export const api = {
  config,
  conversations: (params) => request("GET", withQuery(config.urls.conversations, params)),
  page: (url) => request("GET", url),
  conversation: (id) => request("GET", `${config.urls.conversations}${id}/`),
  messages: (id) => request("GET", `${config.urls.conversations}${id}/messages/`),
  send: (id, payload) =>
    payload instanceof FormData
      ? request("POST", `${config.urls.conversations}${id}/messages/`, { form: payload })
      : request("POST", `${config.urls.conversations}${id}/messages/`, { json: payload }),
  action: (id, name) => request("POST", `${config.urls.conversations}${id}/${name}/`, { json: {} }),
  update: (id, fields) => request("PATCH", `${config.urls.conversations}${id}/`, { json: fields }),
  exportUrl: (id, format) => `${config.urls.conversations}${id}/export/?format=${encodeURIComponent(format)}`,
  quickReplies: (q) => request("GET", withQuery(config.urls.quickReplies, { q })),
  templates: (channel) => request("GET", withQuery(config.urls.templates, { channel })),
  syncTemplates: (channel) => request("POST", withQuery(config.urls.templatesSync, { channel }), { json: {} }),
};

export function withQuery(url, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "" && value !== false) query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${url}${url.includes("?") ? "&" : "?"}${text}` : url;
}

/** A paginated answer's rows: DRF pages ({results}) or a plain list. */
export function rows(data) {
  if (Array.isArray(data)) return data;
  return (data && data.results) || [];
}
