/*
 * The dashboard (/tablero/): every card draws its /api/metrics/<name>/ answer the same way.
 * The answer says how ({"chart": {type, label, values, stacked}}) and which summary figures to show;
 * the filter bar's values go to every request, to the CSV links and to the page's address.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const S = config.strings;
  const lang = config.language || "es";
  const form = document.querySelector("[data-filters]");
  const filterError = document.querySelector("[data-filter-error]");
  const charts = new Map();
  const FILTERS = ["start", "end", "channel", "role", "number"];
  const MAX_LABEL = 20;

  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => (css.getPropertyValue(name) || "").trim() || fallback;
  const PALETTE = [
    color("--wia-color-primary", "#0f7a6c"),
    color("--wia-color-accent", "#25d366"),
    color("--wia-color-info", "#3538cd"),
    color("--wia-color-ai", "#5925dc"),
    color("--wia-color-warning", "#a64b06"),
    color("--wia-color-danger", "#b42318"),
    "#0ea5e9", "#d946ef", "#64748b", "#84cc16", "#f59e0b", "#14b8a6",
  ];
  const TEXT = color("--wia-color-muted", "#5f6f78");
  const GRID = color("--wia-color-border", "#e3e7ea");

  const numberFormat = new Intl.NumberFormat(lang);
  const percentFormat = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  const dayFormat = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });
  const weekdayFormat = new Intl.DateTimeFormat(lang, { weekday: "long", timeZone: "UTC" });

  function weekdayName(iso) { // 1 = Monday .. 7 = Sunday; 2024-01-01 was a Monday
    return weekdayFormat.format(new Date(Date.UTC(2024, 0, iso)));
  }

  function dayLabel(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(value));
    return m ? dayFormat.format(new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]))) : String(value);
  }

  function duration(seconds) {
    if (seconds < 60) return `${Math.round(seconds)} s`;
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
    const days = Math.floor(hours / 24);
    return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
  }

  function formatFigure(kind, value) {
    if (value === null || value === undefined) return "—";
    if (kind === "percent") return percentFormat.format(value);
    if (kind === "duration") return duration(value);
    if (kind === "hour") return `${String(value).padStart(2, "0")}:00`;
    return numberFormat.format(value);
  }

  function filterParams() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = (form.elements[name].value || "").trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  function seriesName(column) {
    return S[column] || column;
  }

  function show(card, state, message) {
    card.dataset.state = state;
    card.querySelector("[data-loading]").hidden = state !== "loading";
    card.querySelector("[data-empty]").hidden = state !== "empty";
    const error = card.querySelector("[data-error]");
    error.hidden = state !== "error";
    error.textContent = state === "error" ? message || S.error : "";
    card.querySelector("[data-canvas]").style.visibility = state === "ready" ? "visible" : "hidden";
  }

  function hasData(data) {
    const values = data.chart.values.map((c) => data.columns.indexOf(c));
    return data.rows.some((row) => values.some((i) => Number(row[i]) > 0));
  }

  function renderFigures(card, data) {
    const box = card.querySelector("[data-figures]");
    box.replaceChildren();
    for (const figure of data.figures) {
      const item = document.createElement("div");
      item.className = "figure";
      const n = document.createElement("span");
      n.className = "n";
      n.dataset.figure = figure.key;
      n.textContent = formatFigure(figure.kind, data.summary[figure.key]);
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = figure.label;
      item.append(n, what);
      box.append(item);
    }
    if (data.metric === "frequent_words" && data.summary.limited) {
      const note = document.createElement("div");
      note.className = "figure";
      note.innerHTML = "<span class=\"what\"></span>";
      note.firstChild.textContent = S.wordsLimited;
      box.append(note);
    }
  }

  function weekChart(data) {
    const hour = data.columns.indexOf("hour");
    const weekday = data.columns.indexOf("weekday");
    const n = data.columns.indexOf("messages");
    const labels = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, "0")}h`);
    const datasets = [1, 2, 3, 4, 5, 6, 7].map((day, i) => ({
      label: weekdayName(day),
      data: labels.map((_, h) => {
        const row = data.rows.find((r) => r[weekday] === day && r[hour] === h);
        return row ? row[n] : 0;
      }),
      borderColor: PALETTE[i],
      backgroundColor: PALETTE[i],
      tension: 0,
      pointRadius: 0,
      borderWidth: 2,
    }));
    return { type: "line", data: { labels, datasets }, options: {} };
  }

  function chartConfig(data) {
    const spec = data.chart;
    if (spec.type === "week") return weekChart(data);
    // The label: one column, or several joined ("131026 · Message undeliverable"); days in the page's language.
    const labelColumns = [].concat(spec.label).map((c) => data.columns.indexOf(c));
    const isDay = spec.label === "day";
    const labels = data.rows.map((row) => {
      if (isDay) return dayLabel(row[labelColumns[0]]);
      return labelColumns.map((i) => row[i]).filter((v) => v !== "" && v !== null).join(" · ") || "—";
    });
    if (spec.type === "doughnut") {
      const i = data.columns.indexOf(spec.values[0]);
      return {
        type: "doughnut",
        data: { labels, datasets: [{ data: data.rows.map((r) => r[i]), backgroundColor: PALETTE, borderWidth: 1 }] },
        options: { cutout: "58%", plugins: { legend: { position: "right", labels: { color: TEXT, boxWidth: 12 } } } },
      };
    }
    const horizontal = spec.type === "hbar";
    const datasets = spec.values.map((column, k) => {
      const i = data.columns.indexOf(column);
      return {
        label: seriesName(column),
        data: data.rows.map((r) => r[i]),
        backgroundColor: PALETTE[k],
        borderColor: PALETTE[k],
        borderRadius: spec.type === "line" ? 0 : 3,
        tension: 0,
        pointRadius: spec.type === "line" ? 2 : 0,
        borderWidth: spec.type === "line" ? 2 : 0,
        borderDash: spec.type === "line" && k === 2 ? [6, 4] : [], // a third line often lies on another
        maxBarThickness: 28,
      };
    });
    const valueAxis = { beginAtZero: true, stacked: spec.stacked, ticks: { color: TEXT, precision: 0 }, grid: { color: GRID } };
    const labelAxis = {
      stacked: spec.stacked,
      grid: { display: false },
      ticks: {
        color: TEXT,
        autoSkip: isDay, // days may be hundreds; every bucket, step or reason is shown
        maxRotation: isDay ? 0 : 45,
        // Long labels (a reason, a step) are cut; the tooltip shows them whole.
        callback(value) {
          const text = this.getLabelForValue(value);
          return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
        },
      },
    };
    return {
      type: spec.type === "line" ? "line" : "bar",
      data: { labels, datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: { legend: { display: datasets.length > 1, labels: { color: TEXT, boxWidth: 12 } } },
      },
    };
  }

  function draw(card, data) {
    const name = card.dataset.metric;
    if (charts.has(name)) {
      charts.get(name).destroy();
      charts.delete(name);
    }
    renderFigures(card, data);
    if (!hasData(data)) {
      show(card, "empty");
      return;
    }
    const cfg = chartConfig(data);
    cfg.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, cfg.options);
    cfg.options.plugins = Object.assign({ tooltip: { mode: "index", intersect: false } }, cfg.options.plugins);
    charts.set(name, new window.Chart(card.querySelector("[data-canvas]"), cfg));
    show(card, "ready");
  }

  function describeErrors(body) {
    if (!body || typeof body !== "object") return "";
    return Object.values(body).flat().join(" ");
  }

  async function load(card, params) {
    const name = card.dataset.metric;
    show(card, "loading");
    const url = `${config.api}${name}/?${params}`;
    const csv = new URLSearchParams(params);
    csv.set("format", "csv");
    card.querySelector("[data-csv]").href = `${config.api}${name}/?${csv}`;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const body = await response.json().catch(() => null);
      if (response.status === 400) {
        filterError.textContent = `${S.badFilters} ${describeErrors(body)}`;
        filterError.hidden = false;
        show(card, "error", describeErrors(body));
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      draw(card, body);
    } catch (err) {
      show(card, "error");
    }
  }

  function loadAll() {
    const params = filterParams();
    filterError.hidden = true;
    filterError.textContent = "";
    const address = params.toString() ? `?${params}` : location.pathname;
    history.replaceState(null, "", address);
    document.querySelectorAll("[data-metric]").forEach((card) => load(card, params));
  }

  // The address keeps the filters: a reload or a shared link shows the same range.
  const initial = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    if (initial.has(name) && form.elements[name]) form.elements[name].value = initial.get(name);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadAll();
  });
  window.Chart.defaults.font.family = color("--wia-font", "system-ui, sans-serif");
  loadAll();
})();
