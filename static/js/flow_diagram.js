/*
 * The admin's flow diagram: draws the graph that flows.diagram.flow_graph built
 * (embedded as <script type="application/json" id="flow-graph">) with the
 * vendored Cytoscape.js (drawing, panning, clicks) and dagre (the layered
 * layout). No inline handlers, no eval: CSP-friendly.
 *
 * Steps are boxes. Each rule is an arrow from its step to its next step, with
 * its keywords in a small label box on the arrow. dagre places the steps and
 * the label boxes without overlaps and routes every arrow around the boxes;
 * the arrows are drawn through dagre's bend points.
 *
 * Exposes window.flowDiagram for tests and the console:
 *   { ready, error, cy, layout, direction, nodeCount (steps), ruleCount (arrows),
 *     nodes(kind) -> step names, rules(kind) -> rule ids }.
 */
(function () {
  "use strict";

  var FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif";
  var STEP_FONT_SIZE = 14;
  var LABEL_FONT_SIZE = 12;
  var COLORS = {
    initial: { fill: "#dff3e4", border: "#1e7e34", text: "#0f3d1a" },
    step: { fill: "#e6eef5", border: "#417690", text: "#1b2f3a" },
    dangling: { fill: "#fde2e1", border: "#ba2121", text: "#7a1010" },
    unreachable: { fill: "#f3f3f3", border: "#d9822b", text: "#6b6b6b" },
    ai: { fill: "#efe6ff", border: "#6f42c1", text: "#3b2168" }
  };
  var EDGE_COLORS = { keyword: "#417690", default: "#4d4d4d", handler: "#6f42c1", advance: "#8c8c8c" };

  var state = { ready: false, error: null, cy: null, nodeCount: 0, ruleCount: 0 };
  window.flowDiagram = state;

  function safeUrl(url) {
    // Only same-site paths: never javascript:, data: or another host.
    return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : null;
  }

  var measureContext = null;

  function textSize(text, fontSize, bold) {
    // Boxes sized to their text (Cytoscape's width: "label" is deprecated).
    if (!measureContext) {
      measureContext = document.createElement("canvas").getContext("2d");
    }
    measureContext.font = (bold ? "bold " : "") + fontSize + "px " + FONT_FAMILY;
    var lines = text.split("\n");
    var width = 0;
    lines.forEach(function (line) {
      width = Math.max(width, measureContext.measureText(line).width);
    });
    return { width: Math.ceil(width), height: Math.ceil(lines.length * fontSize * 1.3) };
  }

  function elementsFrom(graph) {
    var elements = [];
    graph.nodes.forEach(function (node) {
      var text = node.label + "\n" + (node.caption || "");
      var size = textSize(text, STEP_FONT_SIZE, true);
      var round = node.kind === "ai" ? 1.3 : 1;
      elements.push({
        group: "nodes",
        data: {
          id: "n:" + node.id,
          step: node.id,
          text: text,
          w: Math.round((size.width + 32) * round),
          h: Math.round((size.height + 18) * round),
          kind: node.kind,
          url: node.url || "",
          hint: node.hint || ""
        },
        classes: "step-node " + node.kind + (node.initial ? " is-initial" : "")
      });
    });
    graph.edges.forEach(function (edge) {
      var text = edge.label + (edge.handler ? "\n\u2699 " + edge.handler : "");
      var size = textSize(text, LABEL_FONT_SIZE, false);
      var common = { kind: edge.kind, ruleId: edge.rule_id, url: edge.url || "", hint: edge.hint || "" };
      var labelId = "l:" + edge.id;
      var ends = { from: "n:" + edge.from, to: "n:" + edge.to };
      elements.push({
        group: "nodes",
        data: Object.assign({ id: labelId, text: text, w: size.width + 14, h: size.height + 8 }, ends, common),
        classes: "rule-label " + edge.kind
      });
      elements.push({
        group: "edges",
        data: Object.assign({ id: labelId + ":in", source: ends.from, target: labelId }, common),
        classes: "rule-in " + edge.kind
      });
      elements.push({
        group: "edges",
        data: Object.assign({ id: labelId + ":out", source: labelId, target: ends.to }, common),
        classes: "rule-out " + edge.kind
      });
    });
    return elements;
  }

  function styles() {
    var sheet = [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          label: "data(text)",
          "text-wrap": "wrap",
          "text-valign": "center",
          "text-halign": "center",
          "font-family": FONT_FAMILY,
          "line-height": 1.3,
          width: "data(w)",
          height: "data(h)"
        }
      },
      {
        selector: "node.step-node",
        style: {
          "font-size": STEP_FONT_SIZE,
          "font-weight": "bold",
          "border-width": 2,
          "background-color": COLORS.step.fill,
          "border-color": COLORS.step.border,
          color: COLORS.step.text
        }
      },
      {
        selector: "node.rule-label",
        style: {
          "font-size": LABEL_FONT_SIZE,
          "background-color": "#ffffff",
          "border-width": 1,
          "border-color": EDGE_COLORS.keyword,
          color: "#1f1f1f",
          "corner-radius": 4
        }
      },
      {
        selector: "edge",
        style: {
          "curve-style": "bezier",
          width: 1.8,
          "line-color": EDGE_COLORS.keyword,
          "target-arrow-color": EDGE_COLORS.keyword,
          "target-arrow-shape": "none"
        }
      },
      { selector: "edge.rule-out", style: { "target-arrow-shape": "triangle", "arrow-scale": 1.3 } },
      { selector: "edge.advance", style: { "line-style": "dashed", "line-dash-pattern": [6, 4] } },
      { selector: "node.rule-label.advance", style: { "border-style": "dashed", "font-style": "italic" } },
      { selector: "node.is-initial", style: { "border-width": 4 } },
      { selector: "node.dangling", style: { "border-style": "dashed", "border-width": 3 } },
      { selector: "node.unreachable", style: { "border-style": "dotted", "border-width": 3 } },
      { selector: "node.ai", style: { shape: "ellipse" } },
      {
        selector: ".hovered",
        style: { "underlay-color": "#79aec8", "underlay-opacity": 0.35, "underlay-padding": 5 }
      }
    ];
    Object.keys(COLORS).forEach(function (kind) {
      sheet.push({
        selector: "node.step-node." + kind,
        style: { "background-color": COLORS[kind].fill, "border-color": COLORS[kind].border, color: COLORS[kind].text }
      });
    });
    Object.keys(EDGE_COLORS).forEach(function (kind) {
      sheet.push({
        selector: "edge." + kind,
        style: { "line-color": EDGE_COLORS[kind], "target-arrow-color": EDGE_COLORS[kind] }
      });
      sheet.push({ selector: "node.rule-label." + kind, style: { "border-color": EDGE_COLORS[kind] } });
    });
    return sheet;
  }

  function setWaypoints(edge, points) {
    // Cytoscape's segment edges take bend points relative to the source-target line.
    if (!points.length) {
      edge.style({ "curve-style": "straight" });
      return;
    }
    var S = edge.source().position();
    var T = edge.target().position();
    var dx = T.x - S.x;
    var dy = T.y - S.y;
    var l2 = dx * dx + dy * dy || 1;
    var l = Math.sqrt(l2);
    var weights = [];
    var distances = [];
    points.forEach(function (p) {
      weights.push(((p.x - S.x) * dx + (p.y - S.y) * dy) / l2);
      distances.push(((p.x - S.x) * -dy + (p.y - S.y) * dx) / l);
    });
    edge.style({
      "curve-style": "round-segments",
      "edge-distances": "node-position",
      "segment-weights": weights,
      "segment-distances": distances,
      "segment-radii": 14
    });
  }

  function nearestIndex(points, x, y) {
    var best = 0;
    var bestDistance = Infinity;
    points.forEach(function (p, i) {
      var d = (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y);
      if (d < bestDistance) {
        best = i;
        bestDistance = d;
      }
    });
    return best;
  }

  function dagreLayout(cy, direction) {
    var g = new window.dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({
      rankdir: direction,
      nodesep: direction === "LR" ? 22 : 30,
      ranksep: direction === "LR" ? 46 : 50,
      edgesep: 14,
      marginx: 10,
      marginy: 10
    });
    g.setDefaultEdgeLabel(function () {
      return {};
    });
    cy.nodes(".step-node").forEach(function (node) {
      g.setNode(node.id(), { width: node.data("w"), height: node.data("h") });
    });
    cy.nodes(".rule-label").forEach(function (label) {
      var from = label.data("from");
      var to = label.data("to");
      var sink = null;
      if (from === to) {
        // A rule that stays in its step: its label goes to an invisible point one rank after
        // the step, so dagre puts the label right next to the step; it is then joined to the
        // step by two curved halves (loopHalves).
        sink = "sink:" + from;
        g.setNode(sink, { width: 1, height: 1 });
      }
      g.setEdge(
        from,
        sink || to,
        {
          width: label.data("w"),
          height: label.data("h"),
          labelpos: "c",
          minlen: 1,
          weight: label.data("kind") === "advance" ? 1 : 2
        },
        label.id()
      );
    });
    window.dagre.layout(g);
    cy.batch(function () {
      g.nodes().forEach(function (id) {
        var box = g.node(id);
        if (id.indexOf("sink:") !== 0) {
          cy.getElementById(id).position({ x: box.x, y: box.y });
        }
      });
      g.edges().forEach(function (e) {
        var info = g.edge(e);
        var label = cy.getElementById(e.name);
        label.position({ x: info.x, y: info.y });
        if (e.w.indexOf("sink:") === 0) {
          loopHalves(cy.getElementById(e.name + ":in"), cy.getElementById(e.name + ":out"));
          return;
        }
        var points = info.points || [];
        var k = nearestIndex(points, info.x, info.y);
        // The first and last points lie on the steps' borders: Cytoscape finds those itself.
        setWaypoints(cy.getElementById(e.name + ":in"), points.slice(1, k));
        setWaypoints(cy.getElementById(e.name + ":out"), points.slice(k + 1, points.length - 1));
      });
    });
  }

  function loopHalves(edgeIn, edgeOut) {
    // Step -> label and label -> step bow out to opposite sides: a small loop.
    [edgeIn, edgeOut].forEach(function (edge) {
      edge.style({ "curve-style": "unbundled-bezier", "control-point-distances": [18], "control-point-weights": [0.5] });
    });
  }

  function fallbackLayout(cy) {
    cy.layout({ name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 24, animate: false }).run();
  }

  function fail(container, message) {
    state.error = message;
    var note = document.createElement("p");
    note.className = "errornote";
    note.textContent = container.getAttribute("data-error") || message;
    container.replaceChildren(note);
    container.classList.add("flow-diagram-failed");
  }

  function init() {
    var container = document.getElementById("flow-diagram");
    var dataElement = document.getElementById("flow-graph");
    if (!container || !dataElement) {
      return;
    }
    if (typeof window.cytoscape !== "function") {
      fail(container, "Cytoscape.js did not load");
      return;
    }
    var graph;
    try {
      graph = JSON.parse(dataElement.textContent);
    } catch (e) {
      fail(container, "bad graph data: " + e);
      return;
    }
    var hint = document.getElementById("flow-diagram-hint");
    var defaultHint = hint ? hint.textContent : "";
    var direction = container.getAttribute("data-direction") === "TB" ? "TB" : "LR";

    var cy = window.cytoscape({
      container: container,
      elements: elementsFrom(graph),
      style: styles(),
      layout: { name: "preset" },
      minZoom: 0.15,
      maxZoom: 2.5,
      userZoomingEnabled: false, // the page scrolls over the drawing; zoom with the buttons
      boxSelectionEnabled: false,
      autoungrabify: true
    });
    state.cy = cy;
    state.nodeCount = cy.nodes(".step-node").length;
    state.ruleCount = cy.nodes(".rule-label").length;
    state.nodes = function (kind) {
      return cy.nodes(".step-node" + (kind ? "." + kind : "")).map(function (n) {
        return n.data("step");
      });
    };
    state.rules = function (kind) {
      return cy.nodes(".rule-label" + (kind ? "." + kind : "")).map(function (n) {
        return n.data("ruleId");
      });
    };

    function runLayout() {
      state.ready = false;
      if (window.dagre && window.dagre.layout) {
        dagreLayout(cy, direction);
        state.layout = "dagre";
      } else {
        fallbackLayout(cy);
        state.layout = "breadthfirst";
      }
      fitHeight();
      state.direction = direction;
      state.ready = true;
      container.setAttribute("data-ready", "true");
    }

    var READABLE_ZOOM = 0.75; // below this the labels get too small: pan instead of shrinking

    function fitHeight() {
      // Size the drawing area to the graph's shape (320px .. 85% of the window), then fit the
      // graph in it, or, for a large flow, show its start at a readable zoom (drag to see more).
      var padding = 24;
      var box = cy.elements().boundingBox();
      var zoom = Math.max(Math.min((container.clientWidth - 2 * padding) / Math.max(box.w, 1), 1.4), READABLE_ZOOM);
      var wanted = Math.round(box.h * zoom + 2 * padding);
      var height = Math.max(320, Math.min(wanted, Math.round(window.innerHeight * 0.85)));
      container.style.height = height + "px";
      cy.resize();
      cy.fit(undefined, padding);
      if (cy.zoom() > 1.4) {
        cy.zoom(1.4);
        cy.center();
      } else if (cy.zoom() < READABLE_ZOOM) {
        cy.zoom(READABLE_ZOOM);
        var start = cy.getElementById("n:" + (graph.initial_step || ""));
        var anchor = start.length ? start.renderedBoundingBox() : cy.elements().renderedBoundingBox();
        var overflowsX = box.w * READABLE_ZOOM > container.clientWidth - 2 * padding;
        var overflowsY = box.h * READABLE_ZOOM > container.clientHeight - 2 * padding;
        var graphBox = cy.elements().renderedBoundingBox();
        cy.panBy({
          x: overflowsX
            ? Math.min(padding - graphBox.x1, container.clientWidth / 2 - (anchor.x1 + anchor.x2) / 2)
            : container.clientWidth / 2 - (graphBox.x1 + graphBox.x2) / 2,
          y: overflowsY
            ? Math.min(padding - graphBox.y1, container.clientHeight / 2 - (anchor.y1 + anchor.y2) / 2)
            : container.clientHeight / 2 - (graphBox.y1 + graphBox.y2) / 2
        });
      }
    }

    function related(element) {
      // A rule is its label box plus its two arrow halves: highlight them together.
      var ruleId = element.data("ruleId");
      if (ruleId === undefined || ruleId === null || element.hasClass("step-node")) {
        return element;
      }
      var kind = element.data("kind");
      return cy.elements().filter(function (e) {
        return e.data("ruleId") === ruleId && e.data("kind") === kind;
      });
    }

    cy.on("tap", "node, edge", function (event) {
      var url = safeUrl(event.target.data("url"));
      if (url) {
        window.location.assign(url);
      }
    });
    cy.on("mouseover", "node, edge", function (event) {
      related(event.target).addClass("hovered");
      container.style.cursor = event.target.data("url") ? "pointer" : "";
      if (hint && event.target.data("hint")) {
        hint.textContent = event.target.data("hint");
      }
    });
    cy.on("mouseout", "node, edge", function (event) {
      related(event.target).removeClass("hovered");
      container.style.cursor = "";
      if (hint) {
        hint.textContent = defaultHint;
      }
    });

    var directionButton = document.querySelector("[data-flow-action=direction]");
    function labelDirectionButton() {
      if (directionButton) {
        directionButton.textContent = directionButton.getAttribute(direction === "TB" ? "data-label-lr" : "data-label-tb");
      }
    }
    document.querySelectorAll("[data-flow-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-flow-action");
        var center = { x: container.clientWidth / 2, y: container.clientHeight / 2 };
        if (action === "zoom-in") {
          cy.zoom({ level: cy.zoom() * 1.25, renderedPosition: center });
        } else if (action === "zoom-out") {
          cy.zoom({ level: cy.zoom() / 1.25, renderedPosition: center });
        } else if (action === "fit") {
          fitHeight();
        } else if (action === "direction") {
          direction = direction === "TB" ? "LR" : "TB";
          labelDirectionButton();
          runLayout();
        }
      });
    });
    labelDirectionButton();
    runLayout();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
