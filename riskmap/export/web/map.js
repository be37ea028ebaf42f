// riskmap offline map: everything this page needs is in this file.
// Text from the data is only ever put into the page with textContent (never
// innerHTML), so a name holding an img tag with an onerror handler shows as text.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("riskmap-data").textContent);
  var COL = D.colours, F = D.frame, C = D.cells;
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 700px)").matches
    : window.innerWidth <= 700;
  if (narrow) document.body.classList.add("rm-narrow");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function esc(s) { var d = document.createElement("div"); d.textContent = String(s); return d.innerHTML; }

  // --- the patrol frame: (u, v) in patrol cells from its south-west corner <-> lat/lon ---
  function poly(P, a, b) {
    var s = (a - P.c[0]) / P.c[1], t = (b - P.c[2]) / P.c[3], x = 0, y = 0;
    for (var n = 0; n < P.t.length; n++) {
      var m = Math.pow(s, P.t[n][0]) * Math.pow(t, P.t[n][1]);
      x += P.k[0][n] * m; y += P.k[1][n] * m;
    }
    return [x, y];
  }
  function ll(u, v) { return poly(F.fwd, u, v); }          // [lat, lon]
  function uv(lat, lon) { return poly(F.inv, lat, lon); }  // [u, v]
  function pad(n, d) { var s = String(n); while (s.length < d) s = "0" + s; return s; }
  // the id riskmap.grid.cellid gives the cell whose south-west corner is (i, j)
  function idAt(i, j) {
    var x = Math.round(F.x0 + i * F.size), y = Math.round(F.y0 + j * F.size);
    var e = Math.floor(x / 1000), n = Math.floor(y / 1000), id = e + "-" + n;
    if (F.digits) {
      id += "-" + pad(Math.floor((x - e * 1000) / F.size), F.digits)
        + pad(Math.floor((y - n * 1000) / F.size), F.digits);
    }
    return id;
  }

  // --- the exported cells, as columns ---
  var N = C.n || 0, ids = C.ids || [], at = {}, byId = {}, first = [];
  for (var k = 0, off = 0; k < N; k++) {
    if (!C.ids) ids.push(idAt(C.i[k], C.j[k]));
    at[C.i[k] + "," + C.j[k]] = k;
    byId[ids[k]] = k;
    first.push(off);
    off += C.fn[k];
  }
  window.riskmapCellIds = ids;
  function record(k) {
    var f = [];
    for (var n = first[k]; n < first[k] + C.fn[k]; n++) f.push(C.phrases[C.fk[n]]);
    return { id: ids[k], township: C.towns[C.t[k]], village: C.villages[C.v[k]],
             score: C.s[k] / 100, "class": C.c[k], factors: f, rank: C.rk ? C.ranks[C.rk[k]] : "" };
  }
  function corners(k) {
    var i = C.i[k], j = C.j[k];
    return [ll(i, j), ll(i + 1, j), ll(i + 1, j + 1), ll(i, j + 1)];
  }

  var map = L.map("map", { preferCanvas: false, zoomControl: !narrow, zoomSnap: narrow ? 0.25 : 1 });
  window.riskmapMap = map;
  var overlays = {};

  // basemaps: none unless the project configured one
  var bases = {};
  (D.basemaps || []).forEach(function (b, i) {
    var layer = L.layerGroup((b.urls || [b.url]).map(function (u) {
      return L.tileLayer(u, { subdomains: b.subdomains || "abc", maxZoom: 18, attribution: esc(b.attribution || "") });
    }));
    bases[esc(b.name)] = layer;
    if (i === 0) layer.addTo(map);
  });

  // reference layers (DOM, rivers, roads, settlements): offline toggles in a pane under the risk
  var R = D.reference || { layers: [] }, refs = [];
  if (R.dom || R.layers.length) map.createPane("rmRef").style.zIndex = 350;
  function refPath(base, flat) {  // the first point from base, then steps (1e-5 degrees)
    var out = [], a = base[0], b = base[1];
    for (var n = 0; n < flat.length; n += 2) { a += flat[n]; b += flat[n + 1]; out.push([a / 1e5, b / 1e5]); }
    return out;
  }
  function swatch(colour, label) {
    return "<i class=\"rm-sw\" style=\"background:" + colour + "\"></i>" + esc(label);
  }
  if (R.dom) {
    var domLayer = L.imageOverlay(R.dom.url, R.dom.bounds, { pane: "rmRef", interactive: false });
    overlays[swatch("#7a8a5a", R.dom.label)] = domLayer;
    if (R.dom.on) domLayer.addTo(map);
    refs.push({ label: R.dom.label, kind: "dom", layer: domLayer });
  }
  R.layers.forEach(function (lyr) {
    var g = L.layerGroup(), st = { pane: "rmRef", color: lyr.colour, weight: lyr.weight, interactive: false };
    var nm = lyr.names || { points: [], polys: [] }, n;
    if (lyr.lines.length) g.addLayer(L.polyline(lyr.lines.map(function (p) { return refPath(lyr.base, p); }), st));
    if (lyr.polys.length) {
      g.addLayer(L.polygon(lyr.polys.map(function (rings) {
        return rings.map(function (r) { return refPath(lyr.base, r); });
      }), L.extend({}, st, { weight: 0.8, fillColor: lyr.fill, fillOpacity: 0.6 })));
    }
    var labels = [];
    lyr.polys.forEach(function (rings, k) {
      if (!nm.polys[k]) return;
      var c = L.latLngBounds(refPath(lyr.base, rings[0])).getCenter();
      labels.push([c, nm.polys[k]]);
    });
    var cv = L.canvas({ pane: "rmRef" });
    for (n = 0; n < lyr.points.length; n += 2) {
      var at = [(lyr.base[0] + lyr.points[n]) / 1e5, (lyr.base[1] + lyr.points[n + 1]) / 1e5];
      g.addLayer(L.circleMarker(at, L.extend({}, st, { renderer: cv, radius: 3, weight: 1, fillColor: lyr.fill, fillOpacity: 1 })));
      if (nm.points[n / 2]) labels.push([at, nm.points[n / 2]]);
    }
    labels.forEach(function (l) {
      g.addLayer(L.tooltip({ permanent: true, direction: "right", offset: [4, 0], className: "rm-label rm-ref-label", interactive: false })
        .setLatLng(l[0]).setContent(el("span", null, l[1])));
    });
    overlays[swatch(lyr.colour, lyr.label + " (" + lyr.count + ")")] = g;
    g.addTo(map);
    refs.push({ label: lyr.label, kind: lyr.role, layer: g, names: labels.length });
  });
  window.riskmapReference = function () {
    return refs.map(function (r) { return { label: r.label, kind: r.kind, shown: map.hasLayer(r.layer), names: r.names || 0 }; });
  };

  // the risk surface: one image, warped to Web Mercator in Python
  var img = L.imageOverlay(D.overlay.png, D.overlay.bounds, { opacity: 0.75, interactive: false }).addTo(map);
  overlays["风险等级 (risk classes)"] = img;

  function popupFor(p) {
    var box = el("div", "rm-popup");
    var t = el("table");
    [["网格编号", p.id], ["乡镇", p.township], ["村", p.village], ["评分", p.score], ["等级", p["class"]]]
      .concat(p.rank ? [["排名区间 (rank interval)", p.rank]] : []).forEach(function (r) { var tr = el("tr"); tr.appendChild(el("td", null, r[0])); tr.appendChild(el("td", null, r[1])); t.appendChild(tr); });
    box.appendChild(t);
    box.appendChild(el("div", null, "主要风险因素:"));
    if (p.factors.length) {
      var ul = el("ul");
      p.factors.forEach(function (f) { ul.appendChild(el("li", null, f)); });
      box.appendChild(ul);
    } else {
      box.appendChild(el("div", "rm-none", "无明显风险因素 (no notable factor)"));
    }
    return box;
  }

  // area outlines with names
  function outline(gj, style, label) {
    return L.geoJSON(gj, {
      style: style, interactive: !!label,
      pointToLayer: function (f, p) { return L.circleMarker(p, { radius: 2 }); },
      onEachFeature: function (f, layer) {
        if (label && f.properties && f.properties.name) layer.bindTooltip(el("span", null, f.properties.name), { sticky: true });
      }
    });
  }
  if (D.villages) { overlays["村界 (villages)"] = outline(D.villages, { color: "#555", weight: 1, fill: false, dashArray: "3 3" }, true).addTo(map); }
  var area = outline(D.townships, { color: "#222", weight: 2.5, fill: false }, true).addTo(map);
  overlays["乡镇界 (townships)"] = area;
  var names = L.layerGroup((D.labels || []).map(function (l) {
    return L.tooltip({ permanent: true, direction: "center", className: "rm-label", interactive: false })
      .setLatLng(l.ll).setContent(el("span", null, l.name));
  })).addTo(map);
  overlays["地名 (names)"] = names;

  // input layers, each a toggle: features, points (columns), or counts per patrol cell
  function value(col, n) { return Array.isArray(col) ? col[n] : col.u[col.k[n]]; }
  function pointBox(lyr, n) {
    var box = el("div", "rm-popup");
    box.appendChild(el("b", null, lyr.label));
    Object.keys(lyr.props).forEach(function (c) { box.appendChild(el("div", null, c + ": " + value(lyr.props[c], n))); });
    return box;
  }
  function binBox(lyr, n) {
    var box = el("div", "rm-popup");
    box.appendChild(el("b", null, lyr.label));
    box.appendChild(el("div", null, lyr.n[n] + " 处 (points)"));
    box.appendChild(el("div", null, lyr.bin === 1 ? "网格 " + idAt(lyr.i[n], lyr.j[n])
      : "约 " + lyr.bin * F.size + " m 方格 (square)"));
    return box;
  }
  function inputLayer(lyr) {
    var style = { radius: 4, color: lyr.colour, weight: 1, fillOpacity: 0.8, bubblingMouseEvents: false };
    var ms = [], n;
    if (lyr.kind === "points") {
      for (n = 0; n < lyr.lat.length; n++) {
        var m = L.circleMarker([(lyr.base[0] + lyr.lat[n]) / 1e5, (lyr.base[1] + lyr.lon[n]) / 1e5], style);
        m.rmN = n; ms.push(m);
      }
      return L.featureGroup(ms).bindPopup(function (l) { return pointBox(lyr, l.rmN); });
    }
    if (lyr.kind === "bins") {
      for (n = 0; n < lyr.n.length; n++) {
        var h = lyr.bin / 2, r = 3 + Math.min(9, 2 * Math.log(lyr.n[n]) / Math.LN2);
        var b = L.circleMarker(ll(lyr.i[n] * lyr.bin + h, lyr.j[n] * lyr.bin + h),
                               L.extend({}, style, { radius: r, fillOpacity: 0.6 }));
        b.rmN = n; ms.push(b);
      }
      return L.featureGroup(ms).bindPopup(function (l) { return binBox(lyr, l.rmN); });
    }
    return L.geoJSON(lyr.data, {
      bubblingMouseEvents: false,
      style: function () { return { color: lyr.colour, weight: 1.5, fillOpacity: 0.05 }; },
      pointToLayer: function (f, p) { return L.circleMarker(p, style); },
      onEachFeature: function (f, layer) {
        var p = f.properties || {};
        var box = el("div", "rm-popup");
        box.appendChild(el("b", null, lyr.label));
        Object.keys(p).forEach(function (c) { box.appendChild(el("div", null, c + ": " + p[c])); });
        layer.bindPopup(box);
      }
    });
  }
  D.inputs.forEach(function (lyr) {
    var g = inputLayer(lyr);
    overlays[esc(lyr.label) + " (" + lyr.count + ")"] = g;
    if (lyr.on) g.addTo(map);
  });

  // patrol effort from the field history: two toggles, off by default, drawn when first shown
  var canvas = L.canvas({ padding: 0.2 });
  var efforts = (D.effort || []).map(function (E) {
    var at = {}, n;
    for (n = 0; n < E.n; n++) at[E.i[n] + "," + E.j[n]] = n;
    var g = L.layerGroup(), state = { data: E, at: at, shown: false, drawn: 0, layer: g };
    function style(n) {
      if (E.kind === "overdue") {
        return { renderer: canvas, interactive: false, color: E.colour, weight: 1.2, dashArray: "3 2",
                 fillColor: E.colour, fillOpacity: 0.22 };
      }
      var w = E.w[n], c = E.bands[E.bands.length - 1].colour;
      for (var b = 0; b < E.bands.length; b++) { if (w <= E.bands[b].upto) { c = E.bands[b].colour; break; } }
      return { renderer: canvas, interactive: false, color: "#ffffff", weight: 0.5, fillColor: c, fillOpacity: 0.75 };
    }
    g.on("add", function () {
      if (!state.drawn) {
        for (var m = 0; m < E.n; m++) {
          var i = E.i[m], j = E.j[m];
          g.addLayer(L.polygon([ll(i, j), ll(i + 1, j), ll(i + 1, j + 1), ll(i, j + 1)], style(m)));
        }
        state.drawn = E.n;
      }
      state.shown = true;
    });
    g.on("remove", function () { state.shown = false; });
    overlays[esc(E.label)] = g;
    return state;
  });
  // what the shown effort layers say about the cell at (i, j)
  function effortLines(i, j, all) {
    var out = [];
    efforts.forEach(function (st) {
      var E = st.data, n = st.at[i + "," + j];
      if (n === undefined || !(st.shown || all)) return;
      var last = E.weeks[E.lw[n]];
      if (E.w[n] < 0) out.push(E.kind === "overdue" ? "久未巡查: 从未排查 (never checked)" : "从未排查");
      else out.push((E.kind === "overdue" ? "久未巡查: " : "") + "排查 " + E.k[n] + " 次, 发现 " + E.f[n]
        + " 次, 最近 " + (last || "") + " (" + E.w[n] + " 周前)");
    });
    return out;
  }
  window.riskmapEffort = function () {
    return efforts.map(function (st) {
      var E = st.data;
      return { kind: E.kind, n: E.n, shown: st.shown, drawn: st.drawn, first: E.n ? idAt(E.i[0], E.j[0]) : null };
    });
  };
  window.riskmapEffortAt = function (id) {
    for (var k2 = 0; k2 < efforts.length; k2++) {
      var E = efforts[k2].data;
      for (var n = 0; n < E.n; n++) if (idAt(E.i[n], E.j[n]) === id) return effortLines(E.i[n], E.j[n], true);
    }
    return [];
  };

  // the top cells: vector squares; a tap anywhere on an exported cell shows its breakdown
  var top = L.layerGroup((C.top || []).map(function (k) {
    return L.polygon(corners(k), { color: "#7f0000", weight: 1, fillColor: COL[C.c[k]], fillOpacity: 0.55, interactive: false });
  })).addTo(map);
  overlays[esc(D.top_label) + " (" + (C.top || []).length + ")"] = top;
  var mark = null;
  function showCell(k, zoom) {
    var cs = corners(k);
    if (mark) map.removeLayer(mark);
    mark = L.polygon(cs, { color: "#0033ff", weight: 2, fill: false, interactive: false }).addTo(map);
    if (zoom) map.fitBounds(L.latLngBounds(cs), { maxZoom: 16, animate: false });
    var box = popupFor(record(k));
    effortLines(C.i[k], C.j[k]).forEach(function (t) { box.appendChild(el("div", "rm-effort", t)); });
    L.popup({ maxWidth: narrow ? 260 : 320, autoPanPadding: [8, 8] })
      .setLatLng(ll(C.i[k] + 0.5, C.j[k] + 0.5)).setContent(box).openOn(map);
  }
  // for tests and for links: a cell's record and corners by id
  window.riskmapShowCell = function (id) { if (byId[id] !== undefined) showCell(byId[id], true); };
  window.riskmapCell = function (id) { return byId[id] === undefined ? null : record(byId[id]); };
  window.riskmapCorners = function (id) { return byId[id] === undefined ? null : corners(byId[id]); };
  map.on("click", function (e) {
    var q = uv(e.latlng.lat, e.latlng.lng), i = Math.floor(q[0]), j = Math.floor(q[1]), k = at[i + "," + j];
    if (k !== undefined) { showCell(k, false); return; }
    var lines = effortLines(i, j);  // a checked cell below class 3: its effort alone
    if (!lines.length) return;
    var box = el("div", "rm-popup");
    box.appendChild(el("b", null, "网格 " + idAt(i, j)));
    lines.forEach(function (t) { box.appendChild(el("div", "rm-effort", t)); });
    L.popup({ maxWidth: narrow ? 260 : 320 }).setLatLng(ll(i + 0.5, j + 0.5)).setContent(box).openOn(map);
  });

  L.control.layers(bases, overlays, { collapsed: narrow }).addTo(map);
  L.control.scale({ metric: true, imperial: false, maxWidth: narrow ? 100 : 160 }).addTo(map);

  // title and confidentiality mark (on a phone: the title and mark; a tap shows the rest)
  var Title = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var b = el("div", "rm-box rm-title");
    b.appendChild(el("b", null, D.title)); b.appendChild(el("br"));
    var more = el("span", "rm-more", D.build_date + " · " + D.version + " · ");
    b.appendChild(more);
    b.appendChild(el("span", "rm-mark", D.marking));
    if (D.note) { var n = el("span", "rm-more"); n.appendChild(el("br")); n.appendChild(el("small", null, D.note)); b.appendChild(n); }
    b.onclick = function () { b.classList.toggle("rm-open"); };
    L.DomEvent.disableClickPropagation(b);
    return b; } });
  new Title().addTo(map);

  // legend with the class breaks (one line on a phone)
  var Legend = L.Control.extend({ options: { position: "bottomright" }, onAdd: function () {
    var b = el("div", "rm-box rm-legend");
    b.appendChild(el("b", null, "优先级 (priority)"));
    D.legend.forEach(function (r) {
      var row = el("div"); var sw = el("i"); sw.style.background = COL[r.cls];
      row.appendChild(sw); row.appendChild(el("span", null, r.name));
      if (r.thr) row.appendChild(el("span", "rm-thr", " " + r.thr));
      b.appendChild(row); });
    return b; } });
  new Legend().addTo(map);

  // search by cell id: full-width digits, spaces, other dashes, no dashes, or the
  // short form printed on the sheet (the last part of the id)
  function norm(s) {
    s = String(s || "");
    if (s.normalize) s = s.normalize("NFKC");
    s = s.replace(/[\s\u2010-\u2015\u2212\u30fc\uff0d_~\uff5e.,\uff0c\u3002\u3001\/\\:;]+/g, "-");
    return s.replace(/[^0-9-]/g, "").replace(/-+/g, "-").replace(/^-|-$/g, "");
  }
  var dashless = null;
  function find(q) {
    var key = norm(q), digits = key.replace(/-/g, ""), out = [], k;
    if (!digits) return [];
    if (byId[key] !== undefined) return [byId[key]];
    if (!dashless) {
      dashless = {};
      for (k = 0; k < N; k++) { var d = ids[k].replace(/-/g, ""); (dashless[d] = dashless[d] || []).push(k); }
    }
    if (dashless[digits]) return dashless[digits].slice();
    for (k = 0; k < N; k++) {
      var id = ids[k], last = id.slice(id.lastIndexOf("-") + 1);
      if (key.indexOf("-") >= 0 ? id.slice(-key.length - 1) === "-" + key : last === key) out.push(k);
    }
    if (!out.length && digits.length >= 3) {
      for (k = 0; k < N; k++) { var dd = ids[k].replace(/-/g, ""); if (dd.slice(-digits.length) === digits) out.push(k); }
    }
    return out.sort(function (a, b) { return C.c[b] - C.c[a] || C.s[b] - C.s[a]; });
  }
  window.riskmapFind = function (q) { return find(q).map(function (k) { return ids[k]; }); };
  var Search = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var b = el("div", "rm-box rm-search");
    var input = el("input"); input.placeholder = "网格编号 如 " + (D.example_id || "");
    input.setAttribute("inputmode", "text"); input.setAttribute("autocomplete", "off");
    var btn = el("button", null, "查找"); var msg = el("div", "rm-msg");
    b.appendChild(input); b.appendChild(btn); b.appendChild(msg);
    function go() {
      var q = input.value.trim(), hits = find(q);
      msg.textContent = "";
      if (hits.length === 1) { showCell(hits[0], true); return; }
      if (!hits.length) { msg.textContent = "未找到 " + q + " (不在本区域的3级以上网格中)"; return; }
      msg.appendChild(el("div", null, q + ": " + hits.length + " 个网格, 请选择 (pick one)"));
      hits.slice(0, 8).forEach(function (k) {
        var p = el("button", "rm-pick", ids[k] + " · " + C.c[k] + "级");
        p.onclick = function () { msg.textContent = ""; showCell(k, true); };
        msg.appendChild(p);
      });
      if (hits.length > 8) msg.appendChild(el("div", null, "… +" + (hits.length - 8)));
    }
    btn.onclick = go; input.onkeydown = function (e) { if (e.key === "Enter") go(); };
    L.DomEvent.disableClickPropagation(b);
    return b; } });
  new Search().addTo(map);

  // print-friendly view
  var Print = L.Control.extend({ options: { position: "topright" }, onAdd: function () {
    var b = el("button", "rm-box rm-print", "打印视图 (print view)");
    b.onclick = function () { document.body.classList.toggle("rm-printview"); };
    L.DomEvent.disableClickPropagation(b);
    return b; } });
  new Print().addTo(map);

  map.fitBounds(D.overlay.bounds);
  window.riskmapLoadMs = Math.round(performance.now());
  window.riskmapReady = true;
})();
