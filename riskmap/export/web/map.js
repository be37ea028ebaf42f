// riskmap offline map: everything this page needs is in this file.
// Text from the data is only ever put into the page with textContent (never
// innerHTML), so a name holding an img tag with an onerror handler shows as text.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("riskmap-data").textContent);
  var COL = D.colours;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function esc(s) { var d = document.createElement("div"); d.textContent = String(s); return d.innerHTML; }

  var map = L.map("map", { preferCanvas: false, zoomControl: true });
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

  // the risk surface: one image, warped to Web Mercator in Python
  var img = L.imageOverlay(D.overlay.png, D.overlay.bounds, { opacity: 0.75, interactive: false }).addTo(map);
  overlays["风险等级 (risk classes)"] = img;

  function popupFor(p) {
    var box = el("div", "rm-popup");
    var t = el("table");
    [["网格编号", p.id], ["乡镇", p.township], ["村", p.village], ["评分", p.score], ["等级", p["class"]]]
      .forEach(function (r) { var tr = el("tr"); tr.appendChild(el("td", null, r[0])); tr.appendChild(el("td", null, r[1])); t.appendChild(tr); });
    box.appendChild(t);
    if (p.top_factors) {
      box.appendChild(el("div", null, "主要风险因素:"));
      var ul = el("ul");
      String(p.top_factors).split("; ").forEach(function (f) { ul.appendChild(el("li", null, f)); });
      box.appendChild(ul);
    }
    return box;
  }

  // area outlines with names
  function outline(gj, style, label) {
    return L.geoJSON(gj, {
      style: style, interactive: !!label,
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 2 }); },
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

  // input layers, each a toggle
  D.inputs.forEach(function (lyr) {
    var g = L.geoJSON(lyr.data, {
      style: function () { return { color: lyr.colour, weight: 1.5, fillOpacity: 0.05 }; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 4, color: lyr.colour, weight: 1, fillOpacity: 0.8 }); },
      onEachFeature: function (f, layer) {
        var p = f.properties || {};
        var box = el("div", "rm-popup");
        box.appendChild(el("b", null, lyr.label));
        Object.keys(p).forEach(function (k) { box.appendChild(el("div", null, k + ": " + p[k])); });
        layer.bindPopup(box);
      }
    });
    overlays[esc(lyr.label) + " (" + lyr.count + ")"] = g;
    if (lyr.on) g.addTo(map);
  });

  // the top cells: vector squares with their breakdown
  var cellsById = {};
  var top = L.geoJSON(D.top, {
    style: function (f) { return { color: "#7f0000", weight: 1, fillColor: COL[f.properties["class"]], fillOpacity: 0.55 }; },
    onEachFeature: function (f, layer) { layer.bindPopup(popupFor(f.properties)); cellsById[f.properties.id] = layer; }
  }).addTo(map);
  overlays[esc(D.top_label) + " (" + D.top.features.length + ")"] = top;

  L.control.layers(bases, overlays, { collapsed: false }).addTo(map);
  L.control.scale({ metric: true, imperial: false, maxWidth: 160 }).addTo(map);

  // title and confidentiality mark
  var Title = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var b = el("div", "rm-box rm-title");
    b.appendChild(el("b", null, D.title)); b.appendChild(el("br"));
    b.appendChild(el("span", null, D.build_date + " · " + D.version + " · "));
    b.appendChild(el("span", "rm-mark", D.marking));
    if (D.note) { b.appendChild(el("br")); b.appendChild(el("small", null, D.note)); }
    return b; } });
  new Title().addTo(map);

  // legend with the class breaks
  var Legend = L.Control.extend({ options: { position: "bottomright" }, onAdd: function () {
    var b = el("div", "rm-box rm-legend");
    b.appendChild(el("b", null, "优先级 (priority)"));
    D.legend.forEach(function (r) {
      var row = el("div"); var sw = el("i"); sw.style.background = COL[r.cls];
      row.appendChild(sw); row.appendChild(el("span", null, r.text)); b.appendChild(row); });
    return b; } });
  new Legend().addTo(map);

  // search by cell id (any exported cell of this area)
  var Search = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var b = el("div", "rm-box rm-search");
    var input = el("input"); input.placeholder = "网格编号 如 " + (D.example_id || "");
    var btn = el("button", null, "查找"); var msg = el("div", "rm-msg");
    b.appendChild(input); b.appendChild(btn); b.appendChild(msg);
    function go() {
      var id = input.value.trim(); msg.textContent = "";
      if (cellsById[id]) { map.fitBounds(cellsById[id].getBounds(), { maxZoom: 16 }); cellsById[id].openPopup(); return; }
      var c = D.cells[id];
      if (c) {
        var m = L.rectangle(c.b, { color: "#00f", weight: 2, fill: false }).addTo(map);
        map.fitBounds(c.b, { maxZoom: 16 });
        m.bindPopup(popupFor({ id: id, township: c.t, village: c.v, score: c.s, "class": c.c, top_factors: c.f })).openPopup();
        return;
      }
      msg.textContent = "未找到 " + id + " (不在本区域的3级以上网格中)";
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
