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
  function norm(text) { return (text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""); }
  function search(text) {
    var q = norm(text);
    if (!q) { return []; }
    var exact = entries.filter(function (e) { return norm(e.code) === q || norm(e.postcode) === q; });
    if (exact.length) { return exact; }
    var town = entries.filter(function (e) { return norm(e.town) === q; });
    if (town.length) { return town; }
    return entries.filter(function (e) {
      return (norm(e.name) + "|" + norm(e.code) + "|" + norm(e.postcode) + "|" + norm(e.town)).indexOf(q) >= 0;
    });
  }
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
    var found = search(input.value);
    result.textContent = "";
    if (found.length === 1) { show(found[0]); return; }
    if (!found.length) {
      result.textContent = "No practice matches \u201c" + input.value + "\u201d.";
      return;
    }
    var shown = found.slice(0, 100);
    var prompt = document.createElement("p");
    prompt.textContent = found.length + " practices match" +
      (found.length > shown.length ? " (first " + shown.length + " listed)" : "") + "; choose one, or type more to narrow.";
    result.appendChild(prompt);
    var list = document.createElement("div");
    list.className = "fp-find-list";
    shown.forEach(function (e) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
      button.addEventListener("click", function () { show(e); });
      list.appendChild(button);
    });
    result.appendChild(list);
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
