// Translations rendered into the page by the server (conversations/console_strings.py), in the user's language.

const catalog = JSON.parse(document.getElementById("console-strings").textContent);

/** t('Hello %(name)s', {name}) -> the translation with the values put in (as text, never HTML). */
export function t(msgid, values = null) {
  let text = Object.prototype.hasOwnProperty.call(catalog, msgid) ? catalog[msgid] : msgid;
  if (values) text = text.replace(/%\((\w+)\)s/g, (_, key) => (key in values ? String(values[key]) : ""));
  return text;
}
