{# The maps of a comparison page pan and zoom together: moving one sets the view of the others. #}
{% macro script(this, kwargs) %}
(function () {
  var maps = [{{ this.names|join(", ") }}];
  var busy = false;
  function follow(leader) {
    if (busy) { return; }
    busy = true;
    try {
      maps.forEach(function (other) {
        if (other !== leader) { other.setView(leader.getCenter(), leader.getZoom(), {animate: false}); }
      });
    } finally {
      busy = false;
    }
  }
  maps.forEach(function (map) {
    map.on("move moveend zoomend", function () { follow(map); });
  });
  // half-width maps: the summary and legend start folded, their headings still show
  document.querySelectorAll(".fp-frame .fp-panel details").forEach(function (d) { d.open = false; });
  window.fpCompareMaps = maps;
})();
{% endmacro %}
