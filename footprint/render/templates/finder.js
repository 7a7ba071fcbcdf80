{# The practice finder: finds a practice by name, ODS code, postcode or town as you type and, on Enter or a click,
   zooms to it, marks it "You are here" and opens its popup with the focus in it; #CODE in the address does the same.
   A practice not on this map is looked up in the England search index (window.fpEngland, when the page loads it) and
   linked on its own CCG's map. It sits before the map in the page, so it is first in tab order. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var layer = {{ this.layer.get_name() }};
  var entries = [];
  layer.eachLayer(function (marker) {
    var p = marker.feature.properties;
    entries.push({code: p.code, name: p.name, postcode: p.postcode, town: p.town || "", pcn: p.pcn || "",
      marker: marker});
  });
  entries.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
{% include "practice_search.js" %}
  var id = {{ this.get_name()|tojson }};
  var div = document.createElement("div");
  div.className = "fp-panel fp-finder";
  div.innerHTML = '<form role="search"><label for="' + id + '"><b>Find a practice</b></label> ' +
    '<input id="' + id + '" type="search" autocomplete="off" aria-describedby="' + id + '-hint"> ' +
    '<button type="submit">Find</button>' +
    '<p class="fp-hint" id="' + id + '-hint">Name, ODS code, postcode or town</p></form>' +
    '<div class="fp-find-result"><p class="fp-find-status" role="status" aria-live="polite"></p>' +
    '<div class="fp-find-matches"></div></div>';
  var form = div.querySelector("form");
  var input = div.querySelector("input");
  var status = div.querySelector(".fp-find-status");
  var box = div.querySelector(".fp-find-matches");
  var here = null;
  function markHere(entry) {
    if (!map.getPane("fpHere")) {
      var pane = map.createPane("fpHere");
      pane.style.zIndex = 640;
      pane.style.pointerEvents = "none";
    }
    if (here) { map.removeLayer(here); }
    var at = entry.marker.getLatLng();
    var label = document.createElement("span");
    label.textContent = "You are here";
    here = L.layerGroup([
      L.circleMarker(at, {radius: (entry.marker.options.radius || 6) + 9, color: "#1d4ed8", weight: 4, fill: false,
        interactive: false, pane: "fpHere", className: "fp-here"}),
      L.marker(at, {icon: L.divIcon({className: "fp-here-label", html: label, iconSize: null}), interactive: false,
        keyboard: false, pane: "fpHere"})
    ]).addTo(map);
  }
  function show(entry) {
    if (!map.hasLayer(layer)) { map.addLayer(layer); }
    box.textContent = "";
    status.textContent = "Showing " + entry.name + " (" + entry.code + ")" + (entry.pcn ? ", " + entry.pcn : "") + ".";
    markHere(entry);
    // the practice a fifth of the height below the centre: its popup opens clear of the finder; from zoom 14 out
    // to 11 until a town or village is named around it, clear of the popup and the panels
    var start = Math.max(map.getZoom(), 14);
    for (var zoom = start; zoom >= Math.min(start, 11); zoom--) {
      var centre = map.project(entry.marker.getLatLng(), zoom).subtract([0, map.getSize().y * 0.2]);
      map.closePopup();  // opened afresh at each zoom, so that it pans clear of the finder and the panels
      map.setView(map.unproject(centre, zoom), zoom, {animate: false});
      entry.marker.openPopup();
      if (!map.fpPlaces || map.fpPlaces.layout().shown > 0) { break; }
    }
    var popup = entry.marker.getPopup(), heading = popup && popup.getElement() && popup.getElement().querySelector("h4");
    if (heading) { heading.focus({preventScroll: true}); }
    if (window.history && history.replaceState) { history.replaceState(null, "", "#" + entry.code); }
  }
  var england = null;
  function elsewhere(text) {
    var data = window.fpEngland;
    if (!data) { return []; }
    if (england === null) {
      var local = {};
      entries.forEach(function (e) { local[e.code] = true; });
      england = data.practices.filter(function (p) { return !local[p[0]]; }).map(function (p) {
        return {code: p[0], name: p[1], postcode: p[2], ccg: p[3], town: p[4]};
      });
    }
    return search(england, text);
  }
  function find(open) {
    var text = input.value;
    if (!text.trim()) { status.textContent = ""; box.textContent = ""; return; }
    var found = search(entries, text);
    if (open && found.length === 1) { show(found[0]); return; }
    if (found.length || !window.fpEngland) {
      listMatches(status, box, found, text, 100, "div", function (e) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
        button.addEventListener("click", function () { show(e); });
        return button;
      });
      return;
    }
    var ccgs = window.fpEngland.ccgs || {};
    listMatches(status, box, elsewhere(text), text, 100, "ul", function (e) {
      var item = document.createElement("li");
      var a = document.createElement("a");
      a.href = encodeURIComponent(e.ccg) + ".html#" + encodeURIComponent(e.code);
      a.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
      item.appendChild(a);
      item.appendChild(document.createTextNode(" is on the map of " + (ccgs[e.ccg] || "CCG " + e.ccg) + " (" + e.ccg + ")"));
      return item;
    }, " elsewhere in England, not on this map");
  }
  var pending = typing(input, function () {
    if (input.value.trim().length >= 2) { find(false); } else { status.textContent = ""; box.textContent = ""; }
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); pending(); find(true); });
  ["click", "dblclick", "mousedown", "touchstart", "wheel"].forEach(function (kind) {
    div.addEventListener(kind, function (ev) { ev.stopPropagation(); });
  });
  var container = map.getContainer();
  container.parentNode.insertBefore(div, container);
  function fromHash() {
    var code = decodeURIComponent((location.hash || "").slice(1)).toUpperCase();
    var entry = entries.filter(function (e) { return e.code === code; })[0];
    if (entry) { show(entry); }
  }
  window.addEventListener("hashchange", fromHash);
  map.whenReady(function () { setTimeout(fromHash, 0); });
})();
{% endmacro %}
