/* The what-if editor: draw the CCG once, then redraw colours and the side panel from each state. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("fp-data").textContent);
  var TOKEN = JSON.parse(document.getElementById("fp-token").textContent);
  var OPEN = "#d9d9d9", LINE = "#333333", PROBLEM = "#d7191c";
  var state = null, busy = false, polling = false, polls = 0, MAX_POLLS = 900;
  var byCode = {}, cells = {}, markers = {};
  DATA.practices.forEach(function (p) { byCode[p.code] = p; });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function thousands(n) { return Number(n).toLocaleString("en-GB"); }
  function groupOf(code) { return state ? state.assignment[code] : null; }
  function colourOf(group) { return group ? (state.colours[group] || OPEN) : OPEN; }
  function groupById(id) {
    for (var i = 0; i < state.groups.length; i++) { if (state.groups[i].id === id) { return state.groups[i]; } }
    return null;
  }

  var map = L.map("fp-map", { zoomSnap: 0.25 });
  window.fpMap = map;
  map.fitBounds(DATA.bounds, { padding: [20, 20] });  // a view first: vector layers need one
  L.geoJSON(DATA.outline, {
    style: { color: LINE, weight: 1.5, fillColor: "#f7f4ec", fillOpacity: 1, className: "fp-ccg" },
    interactive: false
  }).addTo(map);
  L.geoJSON(DATA.cells, {
    style: { color: LINE, weight: 0.4, opacity: 0.7, fillColor: OPEN, fillOpacity: 0.6, className: "fp-area" },
    onEachFeature: function (feature, layer) {
      var code = feature.properties.code;
      cells[code] = layer;
      layer.on("click", function (e) { openPopup(code, e.latlng); });
    }
  }).addTo(map);
  DATA.practices.forEach(function (p) {
    var marker = L.circleMarker([p.lat, p.lon], {
      radius: p.radius, color: LINE, weight: 1, fillColor: OPEN, fillOpacity: 0.95,
      className: "fp-practice fp-p-" + p.code
    });
    marker.bindTooltip(p.name + " (" + p.code + ")");
    marker.on("click", function () { openPopup(p.code); });
    marker.addTo(map);
    markers[p.code] = marker;
  });

  function say(text, isError) {
    var node = document.getElementById("fp-message");
    node.textContent = text || "";
    node.className = "fp-message" + (isError ? " fp-error" : "");
  }

  function request(method, path, body) {
    var options = { method: method, headers: { "X-Footprint-Token": TOKEN }, credentials: "omit" };
    if (method === "POST") {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    // Only a change makes the page busy: a poll of the state in flight must not swallow a click.
    var change = method === "POST";
    if (change) {
      busy = true;
      document.body.classList.add("fp-busy");
    }
    return fetch(path, options)
      .then(function (response) {
        return response.json().then(function (json) { return { ok: response.ok, json: json }; });
      })
      .then(function (answer) {
        if (!answer.ok) { say(answer.json.error || "refused", true); return null; }
        // A poll sent before a change may answer after it: never draw an older plan over a newer.
        if (change || !state || answer.json.version >= state.version) { render(answer.json); }
        return answer.json;
      })
      .catch(function (error) { say("the editor did not answer: " + error, true); return null; })
      .finally(function () {
        if (change) {
          busy = false;
          document.body.classList.remove("fp-busy");
        }
      });
  }
  function post(path, body, done) {
    if (busy) { return; }
    request("POST", path, body).then(function (s) { if (s && done) { say(done(s)); } });
  }

  function openPopup(code, latlng) {
    if (!state) { return; }
    var p = byCode[code], group = groupOf(code), info = group ? groupById(group) : null;
    var box = el("div", { "class": "fp-popup", "data-practice": code });
    box.appendChild(el("h4", {}, p.name || code));
    box.appendChild(el("p", {}, code + " \u00b7 " + thousands(p.list_size) + " patients"));
    box.appendChild(el("p", {}, group ? "In " + group + " (" + thousands(info.list_size) + ", " + info.verdict + ")" : "Open: in no group yet"));
    if (info && info.locked) {
      box.appendChild(el("p", {}, "Group " + group + " is locked: unlock it in the panel to move this practice."));
    } else {
      var choices = el("div", { "class": "fp-choices" });
      (state.choices[code] || []).forEach(function (to) {
        var g = groupById(to);
        var label = "Join " + to + (g && g.name ? " " + g.name : "") + " (" + thousands(g.list_size) + " \u2192 " + thousands(g.list_size + p.list_size) + ")";
        choices.appendChild(button(code, to, label));
      });
      if (!(info && info.practices === 1)) { choices.appendChild(button(code, "new", "Start a new group")); }
      if (group) { choices.appendChild(button(code, "open", "Leave it open (in no group)")); }
      box.appendChild(choices);
    }
    L.popup({ maxWidth: 340 }).setLatLng(latlng || markers[code].getLatLng()).setContent(box).openOn(map);
  }
  function button(code, to, label) {
    var b = el("button", { type: "button", "data-to": to }, label);
    b.addEventListener("click", function () {
      map.closePopup();
      post("move", { practice: code, to: to }, function (s) { return "Done: " + s.undo; });
    });
    return b;
  }

  function flagged(s) {
    var codes = {};
    s.findings.forEach(function (f) {
      if (f.severity !== "error") { return; }
      if (f.practice_code) { codes[f.practice_code] = true; return; }
      var g = null;
      for (var i = 0; i < s.groups.length; i++) { if (s.groups[i].id === f.group) { g = s.groups[i]; } }
      if (g) { g.members.forEach(function (c) { codes[c] = true; }); }
    });
    (s.stranding.stranded || []).forEach(function (c) { codes[c] = true; });
    return codes;
  }

  function render(s) {
    state = s;
    var bad = flagged(s);
    Object.keys(markers).forEach(function (code) {
      var fill = colourOf(s.assignment[code]);
      cells[code] && cells[code].setStyle({ fillColor: fill });
      markers[code].setStyle({ fillColor: fill, color: bad[code] ? PROBLEM : LINE, weight: bad[code] ? 3 : 1 });
    });
    renderSummary(s);
    renderGroups(s);
    renderList("fp-findings", s.findings, function (f) {
      var item = el("li", { "class": "fp-severity-" + f.severity });
      item.textContent = f.severity + " \u00b7 " + f.rule + ": " + f.detail;
      return item;
    });
    document.getElementById("fp-counts").textContent = "(" + s.errors + " error(s), " + s.warnings + " warning(s))";
    renderList("fp-moves", s.moves, function (m) {
      return el("li", { "title": m.reason }, m.practice_code + " " + m.name + ": " + (m.from || "open") + " \u2192 " + (m.to || "open") + " (" + thousands(m.patients) + ")");
    });
    document.getElementById("fp-moves-count").textContent = "(" + s.moves.length + ")";
    tool("fp-undo", s.undo, "Undo: ");
    tool("fp-redo", s.redo, "Redo: ");
    document.getElementById("fp-complete").disabled = s.open.length === 0;
    document.body.dataset.version = String(s.version);
    var waiting = s.out_of_band.status === "computing" || s.stranding.pending;
    if (waiting && !polling && polls < MAX_POLLS) {
      polling = true;  // the least count or the verdict is still being worked out: ask again shortly
      polls += 1;
      setTimeout(function () { polling = false; if (!busy) { request("GET", "state"); } }, 1000);
    }
    if (!waiting) { polls = 0; }
  }
  function tool(id, label, prefix) {
    var b = document.getElementById(id);
    b.disabled = !label;
    b.title = label ? prefix + label : "nothing to " + prefix.slice(0, -2).toLowerCase();
  }
  function renderList(id, rows, make) {
    var list = document.getElementById(id);
    list.textContent = "";
    rows.forEach(function (r) { list.appendChild(make(r)); });
  }
  function renderSummary(s) {
    var box = document.getElementById("fp-summary");
    box.textContent = "";
    box.appendChild(el("p", { id: "fp-oob" }, s.out_of_band.text));
    box.appendChild(el("p", {}, s.groups.length + " groups; " + s.open.length + " practice(s) open; " + s.errors + " error(s), " + s.warnings + " warning(s)"));
    var verdict = document.getElementById("fp-stranding");
    verdict.textContent = "";
    var text = s.stranding.message;
    if (s.stranding.stranded && s.stranding.stranded.length) { text += " Stranded: " + s.stranding.stranded.join(", ") + "."; }
    if (s.stranding.at_risk && s.stranding.at_risk.length) { text += " At risk: " + s.stranding.at_risk.join(", ") + "."; }
    verdict.appendChild(el("p", { "class": "fp-verdict", id: "fp-verdict" }, "Stranding: " + text));
  }
  function renderGroups(s) {
    var body = document.querySelector("#fp-groups tbody");
    body.textContent = "";
    s.groups.forEach(function (g) {
      var row = el("tr", { "data-group": g.id });
      var lock = el("input", { type: "checkbox", "aria-label": "lock " + g.id });
      lock.checked = g.locked;
      lock.addEventListener("change", function () {
        post("lock", { group: g.id, locked: lock.checked }, function (st) { return "Done: " + st.undo; });
      });
      var cell = el("td");
      cell.appendChild(lock);
      row.appendChild(cell);
      var name = el("td");
      var key = el("span", { "class": "fp-key" });
      key.style.background = g.colour;
      name.appendChild(key);
      name.appendChild(document.createTextNode(g.id + (g.name ? " " + g.name : "")));
      if (!g.contiguous) { name.appendChild(el("span", { "class": "fp-broken" }, " (in pieces)")); }
      row.appendChild(name);
      row.appendChild(el("td", { "class": "fp-num" }, thousands(g.list_size)));
      row.appendChild(el("td", { "class": "fp-status-" + g.status }, g.verdict));
      body.appendChild(row);
    });
  }

  document.getElementById("fp-undo").addEventListener("click", function () { post("undo", {}, function () { return "Undone"; }); });
  document.getElementById("fp-redo").addEventListener("click", function () { post("redo", {}, function () { return "Redone"; }); });
  document.getElementById("fp-complete").addEventListener("click", function () {
    say("Completing the rest ...");
    post("complete", {}, function (s) { return "Done: " + s.undo; });
  });
  document.getElementById("fp-repair").addEventListener("click", function () {
    say("Repairing ...");
    post("repair", {}, function (s) { return "Done: " + s.undo; });
  });
  document.getElementById("fp-save").addEventListener("click", function () {
    post("save", {}, function (s) { return "Saved " + s.saved.plan + " and " + s.saved.moves; });
  });
  request("GET", "state");
})();
