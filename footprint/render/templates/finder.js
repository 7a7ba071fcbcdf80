{# The practice finder: a box that finds a practice by name, ODS code or postcode and opens its popup. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var layer = {{ this.layer.get_name() }};
  var entries = [];
  layer.eachLayer(function (marker) {
    var p = marker.feature.properties;
    entries.push({code: p.code, name: p.name, postcode: p.postcode, marker: marker});
  });
  entries.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
  function norm(text) { return (text || "").toUpperCase().replace(/[^A-Z0-9]/g, ""); }
  function search(text) {
    var q = norm(text);
    if (!q) { return []; }
    var exact = entries.filter(function (e) { return norm(e.code) === q || norm(e.postcode) === q; });
    if (exact.length) { return exact; }
    return entries.filter(function (e) {
      return (norm(e.name) + "|" + norm(e.code) + "|" + norm(e.postcode)).indexOf(q) >= 0;
    });
  }
  function show(entry) {
    if (!map.hasLayer(layer)) { map.addLayer(layer); }
    map.setView(entry.marker.getLatLng(), Math.max(map.getZoom(), 14), {animate: false});
    entry.marker.openPopup();
  }
  var control = L.control({position: "topleft"});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", "fp-panel fp-finder");
    var id = {{ this.get_name()|tojson }};
    div.innerHTML = '<form><label for="' + id + '"><b>Find a practice</b></label><br>' +
      '<input id="' + id + '" type="search" list="' + id + '-list" autocomplete="off" ' +
      'placeholder="name, ODS code or postcode"> <button type="submit">Find</button></form>' +
      '<div class="fp-find-result" role="status"></div>';
    var list = document.createElement("datalist");
    list.id = id + "-list";
    entries.forEach(function (e) {
      var option = document.createElement("option");
      option.value = e.code;
      option.label = e.name + " \u00b7 " + e.postcode;
      list.appendChild(option);
    });
    div.appendChild(list);
    var form = div.querySelector("form");
    var input = div.querySelector("input");
    var result = div.querySelector(".fp-find-result");
    function go() {
      var found = search(input.value);
      result.textContent = "";
      if (found.length === 1) { show(found[0]); return; }
      if (!found.length) {
        result.textContent = "No practice matches \u201c" + input.value + "\u201d.";
        return;
      }
      result.textContent = found.length + " practices match; choose one:";
      found.slice(0, 8).forEach(function (e) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = e.name + " (" + e.code + ", " + e.postcode + ")";
        L.DomEvent.on(button, "click", function () { show(e); });
        result.appendChild(button);
      });
    }
    L.DomEvent.on(form, "submit", function (ev) { L.DomEvent.preventDefault(ev); go(); });
    L.DomEvent.on(input, "input", function () {
      if (entries.some(function (e) { return e.code === input.value; })) { go(); }
    });
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo(map);
})();
{% endmacro %}
