{# The practice finder: finds a practice by name, ODS code, postcode or town and opens its popup; #CODE in the address opens it too. It sits before the map in the page, so it is first in tab order. #}
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
    '<input id="' + id + '" type="search" autocomplete="off" ' +
    'placeholder="name, ODS code, postcode or town"> <button type="submit">Find</button></form>' +
    '<div class="fp-find-result" role="status" aria-live="polite"></div>';
  var form = div.querySelector("form");
  var input = div.querySelector("input");
  var result = div.querySelector(".fp-find-result");
  function show(entry, quiet) {
    if (!map.hasLayer(layer)) { map.addLayer(layer); }
    // the practice a fifth of the height below the centre: its popup opens clear of the finder
    var zoom = Math.max(map.getZoom(), 14);
    var centre = map.project(entry.marker.getLatLng(), zoom).subtract([0, map.getSize().y * 0.2]);
    map.setView(map.unproject(centre, zoom), zoom, {animate: false});
    entry.marker.openPopup();
    if (!quiet) {
      result.textContent = "Showing " + entry.name + " (" + entry.code + ")" + (entry.pcn ? ", " + entry.pcn : "") + ".";
    }
    if (window.history && history.replaceState) { history.replaceState(null, "", "#" + entry.code); }
  }
  function go() {
    var found = search(entries, input.value);
    result.textContent = "";
    if (found.length === 1) { show(found[0]); return; }
    listMatches(result, found, input.value, 100, "div", function (e) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
      button.addEventListener("click", function () { show(e); });
      return button;
    });
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); go(); });
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
