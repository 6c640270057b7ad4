(function () {
  "use strict";
  var pageErrors = [];
  window.addEventListener("error", function (event) {
    pageErrors.push(String(event.message));
    document.body.setAttribute("data-errors", pageErrors.join("\n"));
  });

  var DATA = JSON.parse(document.getElementById("archc-data").textContent);
  var SVG_NS = "http://www.w3.org/2000/svg";
  var KINDS = DATA.kinds;
  var PAD = 10, LABEL_H = 18, MSG_H = 13, RANK_GAP = 26, NODE_GAP = 18, LINE_H = 14;
  var nodes = DATA.nodes, groups = {}, nodeById = {};
  DATA.groups.forEach(function (g) { groups[g.id] = g; });
  function ancestors(id) { var out = []; while (id) { out.unshift(id); id = groups[id].parent; } return out; }
  nodes.forEach(function (n, i) { n.index = i; n.anc = ancestors(n.group); nodeById[n.id] = n; });
  DATA.groups.forEach(function (g) { g.anc = ancestors(g.parent); g.level = g.anc.length + 1; });

  var expanded = {}, depth = DATA.depth;
  function setDepth(d) {
    depth = d; expanded = {};
    DATA.groups.forEach(function (g) { if (d === 0 || g.level < d) { expanded[g.id] = true; } });
  }

  // ---- text measurement -------------------------------------------------------------------------------------------
  var measureCtx = document.createElement("canvas").getContext("2d");
  function textWidth(text, font) { measureCtx.font = font; return measureCtx.measureText(text).width; }
  var FONT_TITLE = "bold 12px Helvetica, Arial, sans-serif", FONT_LINE = "11px Helvetica, Arial, sans-serif";
  function wrap(text, width) {
    var words = String(text).split(" "), lines = [], line = "";
    words.forEach(function (w) {
      if (line && (line + " " + w).length > width) { lines.push(line); line = w; }
      else { line = line ? line + " " + w : w; }
    });
    if (line) { lines.push(line); }
    return lines;
  }

  // ---- what is visible ----------------------------------------------------------------------------------------------
  function visibleUnits() {
    var rep = {}, units = {}, list = [];
    nodes.forEach(function (n) {
      var collapsed = null;
      for (var i = 0; i < n.anc.length; i++) { if (!expanded[n.anc[i]]) { collapsed = n.anc[i]; break; } }
      var id = collapsed ? "g:" + collapsed : "n:" + n.id;
      rep[n.id] = id;
      if (!units[id]) {
        var u = collapsed ? unitForGroup(groups[collapsed], id) : unitForNode(n, id);
        u.order = list.length; units[id] = u; list.push(u);
      }
    });
    var edgeMap = {}, edges = [];
    DATA.edges.forEach(function (e) {
      var s = rep[e.s], t = rep[e.t];
      if (s === t) { return; }
      var outer = t === "g:" + e.outerAt ? e.outer : "";
      var key = s + "|" + t + "|" + e.kind, label = t === "n:" + e.t ? e.label : outer;
      if (edgeMap[key]) {
        if (edgeMap[key].label !== label) { edgeMap[key].label = outer; }
        return;
      }
      edgeMap[key] = {s: units[s], t: units[t], kind: e.kind, label: label};
      edges.push(edgeMap[key]);
    });
    return {units: list, edges: edges};
  }

  function unitForNode(n, id) {
    var lines = n.lines.slice(), err = [];
    n.errors.forEach(function (m) { err = err.concat(wrap(m, 58)); });
    return {id: id, node: n, isGroup: false, parent: n.group, anc: n.anc, title: n.title, lines: lines, err: err,
            kind: n.kind, error: n.errors.length > 0, unknown: n.shape === null};
  }
  function unitForGroup(g, id) {
    var err = [];
    g.messages.forEach(function (m) { err = err.concat(wrap(m, 58)); });
    if (g.errors > g.messages.length) { err.push((g.errors - g.messages.length) + " error(s) inside: expand to see"); }
    return {id: id, group: g, isGroup: true, parent: g.parent, anc: g.anc, title: "\u229e " + g.label,
            lines: g.lines, err: err, error: g.errors > 0, unknown: g.shape === null};
  }

  function measure(u) {
    var w = textWidth(u.title, FONT_TITLE);
    u.lines.concat(u.err).forEach(function (l) { w = Math.max(w, textWidth(l, FONT_LINE)); });
    u.w = Math.ceil(w) + (u.isGroup ? 26 : 18);
    u.h = 20 + LINE_H * (u.lines.length + u.err.length) + (u.isGroup ? 10 : 4);
  }

  // ---- layout: ranks by longest path, x by the mean of the predecessors, groups as boxes ---------------------------
  function commonDepth(a, b) { var i = 0; while (i < a.length && i < b.length && a[i] === b[i]) { i++; } return i; }

  function layout(view) {
    var units = view.units, edges = view.edges;
    units.forEach(function (u) { u.preds = []; u.rank = 0; measure(u); });
    edges.forEach(function (e) {
      e.back = e.s.order >= e.t.order;
      if (!e.back) { e.t.preds.push(e.s); }
    });
    units.forEach(function (u) { u.preds.forEach(function (p) { u.rank = Math.max(u.rank, p.rank + 1); }); });
    var ranks = [];
    units.forEach(function (u) { (ranks[u.rank] = ranks[u.rank] || []).push(u); });
    for (var r = 0; r < ranks.length; r++) { ranks[r] = ranks[r] || []; }
    ranks.forEach(function (rank) {
      rank.forEach(function (u) {
        u.want = 0;
        if (u.preds.length) { u.preds.forEach(function (p) { u.want += p.x; }); u.want /= u.preds.length; }
      });
      rank.sort(function (a, b) { return (a.want - b.want) || (a.order - b.order); });
      var shift = 0;
      rank.forEach(function (u, i) {
        u.x = u.want;
        if (i > 0) {
          var left = rank[i - 1], common = commonDepth(left.anc, u.anc);
          var gap = NODE_GAP + PAD * (left.anc.length - common + u.anc.length - common);
          u.x = Math.max(u.x, left.x + left.w / 2 + gap + u.w / 2);
        }
        shift += u.x - u.want;
      });
      shift /= Math.max(1, rank.length);
      rank.forEach(function (u) { u.x -= shift; });
    });
    // groups: which ranks they span, so the gaps between ranks leave room for their borders and labels
    var spans = {};
    units.forEach(function (u) {
      u.anc.forEach(function (g) {
        var s = spans[g] = spans[g] || {min: u.rank, max: u.rank};
        s.min = Math.min(s.min, u.rank); s.max = Math.max(s.max, u.rank);
      });
    });
    // group error messages wrap to the width of the group, so they never push a box over its neighbours
    var extent = {};
    units.forEach(function (u) {
      u.anc.forEach(function (g, i) {
        var pad = PAD * (u.anc.length - i), e = extent[g] = extent[g] || {x0: Infinity, x1: -Infinity};
        e.x0 = Math.min(e.x0, u.x - u.w / 2 - pad); e.x1 = Math.max(e.x1, u.x + u.w / 2 + pad);
      });
    });
    Object.keys(spans).forEach(function (g) {
      var width = Math.max(200, extent[g].x1 - extent[g].x0 - 16);
      groups[g].msgLines = [];
      groups[g].messages.forEach(function (m) { groups[g].msgLines = groups[g].msgLines.concat(wrapPx(m, width)); });
    });
    var opening = [], closing = [];
    Object.keys(spans).forEach(function (g) {
      var head = LABEL_H + PAD + MSG_H * groupMessages(groups[g]).length;
      opening[spans[g].min] = (opening[spans[g].min] || 0) + head;
      closing[spans[g].max] = (closing[spans[g].max] || 0) + PAD;
    });
    var y = 0;
    ranks.forEach(function (rank, r) {
      y += (opening[r] || 0);
      var h = 0;
      rank.forEach(function (u) { h = Math.max(h, u.h); });
      rank.forEach(function (u) { u.y = y + h / 2; });
      rank.top = y; rank.bottom = y + h;
      y += h + RANK_GAP + (closing[r] || 0);
    });
    var boxes = groupBoxes(units, spans);
    routeEdges(edges, ranks);
    return {units: units, edges: edges, boxes: boxes, ranks: ranks};
  }

  function groupMessages(g) { return g.msgLines || []; }
  function wrapPx(text, width) {
    var words = String(text).split(" "), lines = [], line = "";
    words.forEach(function (w) {
      var next = line ? line + " " + w : w;
      if (line && textWidth(next, FONT_LINE) > width) { lines.push(line); line = w; } else { line = next; }
    });
    if (line) { lines.push(line); }
    return lines;
  }

  function groupBoxes(units, spans) {
    var boxes = {};
    function grow(id, x0, y0, x1, y1) {
      var b = boxes[id] = boxes[id] || {id: id, x0: x0, y0: y0, x1: x1, y1: y1};
      b.x0 = Math.min(b.x0, x0); b.y0 = Math.min(b.y0, y0); b.x1 = Math.max(b.x1, x1); b.y1 = Math.max(b.y1, y1);
    }
    units.forEach(function (u) {
      if (u.anc.length) { grow(u.anc[u.anc.length - 1], u.x - u.w / 2, u.y - u.h / 2, u.x + u.w / 2, u.y + u.h / 2); }
    });
    // innermost first, each box padded and then grown into its parent
    var ids = Object.keys(spans).sort(function (a, b) { return groups[b].level - groups[a].level; });
    ids.forEach(function (id) {
      var b = boxes[id], g = groups[id], msgs = groupMessages(g);
      b.x0 -= PAD; b.x1 += PAD; b.y0 -= LABEL_H + PAD / 2 + MSG_H * msgs.length; b.y1 += PAD;
      var labelW = textWidth("\u229f " + g.label + "  " + g.sub, FONT_TITLE) + 16;
      msgs.forEach(function (m) { labelW = Math.max(labelW, textWidth(m, FONT_LINE) + 16); });
      if (b.x1 - b.x0 < labelW) { b.x1 = b.x0 + labelW; }
      b.messages = msgs;
      if (g.parent && spans[g.parent]) { grow(g.parent, b.x0, b.y0, b.x1, b.y1); }
    });
    return ids.reverse().map(function (id) { return boxes[id]; });
  }

  function routeEdges(edges, ranks) {
    // spread the ends of several edges over the width of a box
    var outs = {}, ins = {};
    edges.forEach(function (e) {
      (outs[e.s.id] = outs[e.s.id] || []).push(e); (ins[e.t.id] = ins[e.t.id] || []).push(e);
    });
    function spread(list, side) {
      list.sort(function (a, b) {
        var pa = side === "out" ? a.t : a.s, pb = side === "out" ? b.t : b.s;
        return (pa.x - pb.x) || (a.kind < b.kind ? -1 : 1);
      });
      list.forEach(function (e, i) {
        var u = side === "out" ? e.s : e.t, step = Math.min(12, u.w / (list.length + 1));
        e[side === "out" ? "sx" : "tx"] = u.x + (i - (list.length - 1) / 2) * step;
      });
    }
    Object.keys(outs).forEach(function (k) { spread(outs[k], "out"); });
    Object.keys(ins).forEach(function (k) { spread(ins[k], "in"); });
    var placed = [];
    edges.slice().sort(function (a, b) { return span(a) - span(b); }).forEach(function (e) {
      e.sy = e.s.y + e.s.h / 2; e.ty = e.t.y - e.t.h / 2;
      if (!e.back && e.t.rank === e.s.rank + 1) {
        var dy = Math.max(12, (e.ty - e.sy) / 2);
        e.d = "M" + e.sx + "," + e.sy + " C" + e.sx + "," + (e.sy + dy) + " " + e.tx + "," + (e.ty - dy) + " " +
              e.tx + "," + e.ty;
        e.lx = (e.sx + e.tx) / 2 + 4; e.ly = (e.sy + e.ty) / 2 + 3;
        return;
      }
      var lo = Math.min(e.s.rank, e.t.rank), hi = Math.max(e.s.rank, e.t.rank), side = e.back ? -1 : 1;
      var edgeX = side > 0 ? Math.max(e.sx, e.tx) : Math.min(e.sx, e.tx);
      for (var r = lo + (e.back ? 0 : 1); r <= hi - (e.back ? 0 : 1); r++) {
        ranks[r].forEach(function (u) {
          edgeX = side > 0 ? Math.max(edgeX, u.x + u.w / 2) : Math.min(edgeX, u.x - u.w / 2);
        });
      }
      var lane = 0;
      while (placed.some(function (p) { return p.side === side && p.lane === lane && p.lo < hi && lo < p.hi &&
                                               Math.abs(p.base - edgeX) < 60; })) { lane++; }
      placed.push({side: side, lane: lane, lo: lo, hi: hi, base: edgeX});
      var x = edgeX + side * (16 + 9 * lane);
      var y0 = e.sy, y1 = e.ty;
      if (e.back) {
        e.d = "M" + e.sx + "," + y0 + " C" + e.sx + "," + (y0 + 22) + " " + x + "," + (y0 + 22) + " " + x + "," +
              y0 + " L" + x + "," + y1 + " C" + x + "," + (y1 - 22) + " " + e.tx + "," + (y1 - 22) + " " + e.tx +
              "," + y1;
      } else {
        e.d = "M" + e.sx + "," + y0 + " C" + e.sx + "," + (y0 + 16) + " " + x + "," + (y0 + 4) + " " + x + "," +
              (y0 + 24) + " L" + x + "," + (y1 - 24) + " C" + x + "," + (y1 - 4) + " " + e.tx + "," + (y1 - 16) + " " +
              e.tx + "," + y1;
      }
      e.lx = x + 4; e.ly = (y0 + y1) / 2;
    });
  }
  function span(e) { return Math.abs(e.t.rank - e.s.rank); }

  // ---- drawing ------------------------------------------------------------------------------------------------------
  var svg = document.getElementById("canvas"), viewport = document.getElementById("viewport");
  var tooltip = document.getElementById("tooltip");
  var current = null, transform = {x: 0, y: 0, k: 1};

  function el(name, attrs, parent, text) {
    var e = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function render() {
    current = layout(visibleUnits());
    while (viewport.firstChild) { viewport.removeChild(viewport.firstChild); }
    var clusters = el("g", {"class": "clusters"}, viewport);
    var edgeLayer = el("g", {"class": "edges"}, viewport);
    var labelLayer = el("g", {"class": "cluster-labels"}, viewport);  // above the edges that cross them
    current.boxes.forEach(function (b) { drawCluster(clusters, labelLayer, b); });
    current.edges.forEach(function (e) { drawEdge(edgeLayer, e); });
    var unitLayer = el("g", {"class": "units"}, viewport);
    current.units.forEach(function (u) { drawUnit(unitLayer, u); });
    document.body.setAttribute("data-rendered", String(current.units.length));
    document.getElementById("depth-value").textContent = depth === 0 ? "all" : String(depth);
    applyTransform();
  }

  function drawCluster(parent, labels, b) {
    var g = groups[b.id], fill = DATA.clusterFills[Math.min(g.level - 1, DATA.clusterFills.length - 1)];
    var box = el("g", {"class": "cluster" + (g.errors ? " error" : ""), "data-id": g.id}, parent);
    el("rect", {x: b.x0, y: b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0, rx: 8, fill: fill}, box);
    var c = el("g", {"class": "cluster", style: "stroke:" + fill}, labels);
    var label = el("text", {"class": "label", x: b.x0 + 8, y: b.y0 + 15}, c, "\u229f " + g.label);
    el("tspan", {"class": "sub", dx: 8}, label, g.sub);
    label.addEventListener("click", function (ev) { ev.stopPropagation(); toggle(g.id, false); });
    label.addEventListener("mousemove", function (ev) { showTip(ev, groupTip(g, true)); });
    label.addEventListener("mouseleave", hideTip);
    b.messages.forEach(function (m, i) { el("text", {"class": "err", x: b.x0 + 8, y: b.y0 + 29 + i * MSG_H}, c, m); });
  }

  function drawEdge(parent, e) {
    var k = KINDS[e.kind];
    el("path", {"class": "edge edge-" + e.kind, "data-kind": e.kind, "data-source": e.s.id, "data-target": e.t.id,
                d: e.d, stroke: k.color, "stroke-width": k.width, "stroke-dasharray": k.dash,
                "marker-end": "url(#arrow-" + e.kind + ")"}, parent);
    if (e.label) {
      el("text", {"class": "edge-label", x: e.lx, y: e.ly, fill: k.color}, parent, e.label);
    }
  }

  function drawUnit(parent, u) {
    var cls = "unit " + (u.isGroup ? "group" : "node op-" + u.node.op) + (u.error ? " error" : "") +
              (u.unknown && !u.error ? " unknown" : "") + (u.kind ? " merge-" + u.kind : "");
    var g = el("g", {"class": cls, "data-id": u.isGroup ? u.group.id : u.node.id,
                     transform: "translate(" + (u.x - u.w / 2) + "," + (u.y - u.h / 2) + ")"}, parent);
    var fill = u.error ? DATA.errorFill : u.isGroup ? DATA.groupFill : u.kind ? KINDS[u.kind].fill : u.node.fill;
    var stroke = u.kind && !u.error ? KINDS[u.kind].color : null;
    var rect = el("rect", {"class": "outer", width: u.w, height: u.h, rx: u.isGroup ? 3 : 7, fill: fill}, g);
    if (stroke) { rect.setAttribute("style", "stroke:" + stroke + ";stroke-width:1.6"); }
    if (u.isGroup) { el("rect", {"class": "inner", x: 3, y: 3, width: u.w - 6, height: u.h - 6, rx: 2}, g); }
    el("text", {"class": "title", x: u.w / 2, y: 16, "text-anchor": "middle"}, g, u.title);
    u.lines.forEach(function (l, i) { el("text", {x: u.w / 2, y: 30 + i * LINE_H, "text-anchor": "middle"}, g, l); });
    u.err.forEach(function (l, i) {
      el("text", {"class": "err", x: u.w / 2, y: 30 + (u.lines.length + i) * LINE_H, "text-anchor": "middle"}, g, l);
    });
    g.addEventListener("mousemove", function (ev) {
      showTip(ev, u.isGroup ? groupTip(u.group, false) : nodeTip(u.node));
    });
    g.addEventListener("mouseleave", hideTip);
    if (u.isGroup) { g.addEventListener("click", function (ev) { ev.stopPropagation(); toggle(u.group.id, true); }); }
  }

  // ---- tooltips -----------------------------------------------------------------------------------------------------
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function rows(pairs) {
    return "<table>" + pairs.map(function (p) {
      return "<tr><td>" + esc(p[0]) + "</td><td>" + esc(p[1]) + "</td></tr>";
    }).join("") + "</table>";
  }
  function nodeTip(n) {
    var pairs = [["op", n.description]];
    Object.keys(n.attrs).forEach(function (k) { pairs.push([k, JSON.stringify(n.attrs[k])]); });
    if (n.inputs.length) {
      pairs.push(["inputs", n.inputs.map(function (i) { return i + " " + (nodeById[i] ? nodeById[i].shapeText : ""); })
        .join(", ")]);
    }
    pairs.push(["output", n.shapeText], ["params", n.params.toLocaleString("en-US")],
               ["MACs", n.macs.toLocaleString("en-US")]);
    if (n.kind) { pairs.push(["connection", KINDS[n.kind].name + ": " + KINDS[n.kind].formula]); }
    if (n.position) { pairs.push(["defined at", n.position]); }
    return "<h3>" + esc(n.id) + "</h3>" + rows(pairs) +
      n.errors.map(function (m) { return "<div class='err'>error: " + esc(m) + "</div>"; }).join("");
  }
  function groupTip(g, open) {
    var pairs = [["ops", g.count], ["output", g.shapeText], ["params", g.params.toLocaleString("en-US")],
                 ["MACs", g.macs.toLocaleString("en-US")]];
    if (g.kinds.length) {
      pairs.push(["connections", g.kinds.map(function (k) { return KINDS[k].name; }).join(", ")]);
    }
    return "<h3>" + esc(g.id) + "</h3>" + rows(pairs) +
      g.messages.map(function (m) { return "<div class='err'>error: " + esc(m) + "</div>"; }).join("") +
      (g.errors > g.messages.length ? "<div class='err'>" + (g.errors - g.messages.length) + " error(s) inside</div>"
                                    : "") +
      "<div class='hint'>click to " + (open ? "collapse" : "expand") + "</div>";
  }
  function showTip(ev, html) {
    tooltip.innerHTML = html; tooltip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14, w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    if (x + w > window.innerWidth - 4) { x = Math.max(4, ev.clientX - w - 14); }
    if (y + h > window.innerHeight - 4) { y = Math.max(4, ev.clientY - h - 14); }
    tooltip.style.left = x + "px"; tooltip.style.top = y + "px";
  }
  function hideTip() { tooltip.hidden = true; }

  // ---- expand / collapse, keeping the clicked box where it was on screen -------------------------------------------
  function anchorOf(id) {
    var u = current.units.filter(function (x) { return x.isGroup && x.group.id === id; })[0];
    if (u) { return {x: u.x - u.w / 2, y: u.y - u.h / 2}; }
    var b = current.boxes.filter(function (x) { return x.id === id; })[0];
    return b ? {x: b.x0, y: b.y0} : null;
  }
  function toggle(id, open) {
    var before = anchorOf(id);
    if (open) { expanded[id] = true; } else { delete expanded[id]; }
    hideTip();
    render();
    var after = anchorOf(id);
    if (before && after) {
      transform.x += (before.x - after.x) * transform.k; transform.y += (before.y - after.y) * transform.k;
      applyTransform();
    }
  }

  // ---- pan and zoom -------------------------------------------------------------------------------------------------
  function applyTransform() {
    viewport.setAttribute("transform", "translate(" + transform.x + "," + transform.y + ") scale(" + transform.k + ")");
  }
  function overview() {
    // the whole width, top first, at a readable scale: a tall network is scrolled, not shrunk to nothing
    var box = viewport.getBBox(), W = svg.clientWidth || window.innerWidth, H = svg.clientHeight || window.innerHeight;
    var top = 84, fitH = (H - top - 20) / Math.max(1, box.height), fitW = (W - 40) / Math.max(1, box.width);
    var k = Math.max(0.02, Math.min(1, fitW, Math.max(fitH, 0.75)));
    transform.k = k; transform.x = (W - box.width * k) / 2 - box.x * k; transform.y = top - box.y * k;
    applyTransform();
  }
  function fit() {
    var box = viewport.getBBox(), W = svg.clientWidth || window.innerWidth, H = svg.clientHeight || window.innerHeight;
    var top = 84, k = Math.min(1.4, (W - 40) / Math.max(1, box.width), (H - top - 20) / Math.max(1, box.height));
    k = Math.max(k, 0.02);
    transform.k = k; transform.x = (W - box.width * k) / 2 - box.x * k; transform.y = top - box.y * k;
    applyTransform();
  }
  function zoomAt(px, py, factor) {
    var k = Math.min(8, Math.max(0.02, transform.k * factor));
    transform.x = px - (px - transform.x) * (k / transform.k);
    transform.y = py - (py - transform.y) * (k / transform.k);
    transform.k = k; applyTransform();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * (ev.deltaMode ? 0.05 : 0.0015)));
  }, {passive: false});
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) { return; }
    drag = {x: ev.clientX, y: ev.clientY, tx: transform.x, ty: transform.y, moved: false};
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("dragging"); hideTip(); }
    transform.x = drag.tx + dx; transform.y = drag.ty + dy; applyTransform();
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("click", function (ev) { if (drag && drag.moved) { ev.stopPropagation(); } }, true);

  // ---- toolbar ------------------------------------------------------------------------------------------------------
  var maxLevel = 1;
  DATA.groups.forEach(function (g) { maxLevel = Math.max(maxLevel, g.level + 1); });
  function button(id, handler) { document.getElementById(id).addEventListener("click", handler); }
  button("fit", fit);
  button("expand-all", function () { setDepth(0); render(); overview(); });
  button("collapse-all", function () { setDepth(1); render(); overview(); });
  button("depth-less", function () {
    setDepth(depth === 0 ? Math.max(1, maxLevel - 1) : Math.max(1, depth - 1)); render(); overview();
  });
  button("depth-more", function () {
    setDepth(depth === 0 || depth + 1 >= maxLevel ? 0 : depth + 1); render(); overview();
  });
  function find(query) {
    var q = query.trim().toLowerCase();
    var hit = nodes.filter(function (n) { return n.id.toLowerCase() === q; })[0] ||
              nodes.filter(function (n) { return n.id.toLowerCase().indexOf(q) >= 0; })[0];
    if (!q || !hit) { return false; }
    hit.anc.forEach(function (g) { expanded[g] = true; });
    render();
    var u = current.units.filter(function (x) { return !x.isGroup && x.node.id === hit.id; })[0];
    var W = svg.clientWidth || window.innerWidth, H = svg.clientHeight || window.innerHeight;
    transform.k = Math.max(transform.k, 0.9);
    transform.x = W / 2 - u.x * transform.k; transform.y = H / 2 - u.y * transform.k; applyTransform();
    var found = viewport.querySelectorAll(".unit");
    for (var i = 0; i < found.length; i++) {
      if (found[i].getAttribute("data-id") === hit.id) { found[i].classList.add("highlight"); }
    }
    return true;
  }
  document.getElementById("search").addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") { return; }
    ev.target.style.background = find(ev.target.value) ? "" : "#ffe0e0";
  });
  window.addEventListener("keydown", function (ev) {
    if (ev.target.id === "search") { return; }
    var cx = svg.clientWidth / 2, cy = svg.clientHeight / 2;
    if (ev.key === "f") { fit(); }
    else if (ev.key === "+" || ev.key === "=") { zoomAt(cx, cy, 1.25); }
    else if (ev.key === "-") { zoomAt(cx, cy, 0.8); }
  });

  // ---- legend and notes ---------------------------------------------------------------------------------------------
  var legend = document.getElementById("legend");
  DATA.present.forEach(function (kind) {
    var k = KINDS[kind], row = document.createElement("div");
    var sample = el("svg", {width: 34, height: 10}, row);
    el("line", {x1: 1, y1: 5, x2: 33, y2: 5, stroke: k.color, "stroke-width": k.width, "stroke-dasharray": k.dash},
       sample);
    var name = document.createElement("b");
    name.textContent = k.name; name.style.color = k.color; row.appendChild(name);
    var formula = document.createElement("span"); formula.className = "formula"; formula.textContent = k.formula;
    row.appendChild(formula); legend.appendChild(row);
  });
  if (!DATA.present.length) { legend.style.display = "none"; }
  document.getElementById("notes").textContent = DATA.notes.map(function (n) { return "error: " + n; }).join("\n");

  // #depth=2&scale=1.5&focus=layer1.0.conv1 in the address opens the page at that depth, zoom and node
  var params = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
    var i = kv.indexOf("="); if (i > 0) { params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); }
  });
  setDepth(params.depth !== undefined && !isNaN(+params.depth) ? Math.max(0, +params.depth) : DATA.depth);
  if (params.expand) { params.expand.split(",").forEach(function (g) { if (groups[g]) { expanded[g] = true; } }); }
  render();
  overview();
  if (params.scale) { zoomAt(0, 0, +params.scale / transform.k); }
  if (params.focus) { var search = document.getElementById("search"); search.value = params.focus; find(params.focus); }
  if (params.tip) {  // #tip=NAME shows the hover card of that box, as if the pointer rested on it
    var tipped = current.units.filter(function (x) {
      return (x.isGroup ? x.group.id : x.node.id) === params.tip;
    })[0];
    if (tipped) {
      var at = {clientX: transform.x + (tipped.x + tipped.w / 2) * transform.k,
                clientY: transform.y + tipped.y * transform.k};
      showTip(at, tipped.isGroup ? groupTip(tipped.group, false) : nodeTip(tipped.node));
    }
  }
})();
