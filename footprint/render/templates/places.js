{# Town and village names as labels that show by zoom level: [lat, lon, name, min zoom, kind]. Text is set as text, never as HTML. #}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var map = {{ this._parent.get_name() }};
  if (!map.getPane("fpPlaces")) {
    var pane = map.createPane("fpPlaces");
    pane.style.zIndex = 450;
    pane.style.pointerEvents = "none";
  }
  var group = L.layerGroup();
  var tiers = {};
  {{ this.places|tojson }}.forEach(function (p) {
    var label = document.createElement("span");
    label.textContent = p[2];
    var icon = L.divIcon({className: "fp-place fp-place-" + p[4], html: label, iconSize: null});
    var marker = L.marker([p[0], p[1]], {icon: icon, interactive: false, keyboard: false, pane: "fpPlaces"});
    (tiers[p[3]] = tiers[p[3]] || L.layerGroup()).addLayer(marker);
  });
  function update() {
    var zoom = map.getZoom();
    Object.keys(tiers).forEach(function (min) {
      if (zoom >= Number(min)) { group.addLayer(tiers[min]); } else { group.removeLayer(tiers[min]); }
    });
  }
  map.on("zoomend", update);
  update();
  return group;
})();
{% endmacro %}
