{# The map's CCG kept clear of the panels: at opening, and when the legend is opened or closed or the window resized
   before anyone has moved the map or opened a popup, the CCG is fitted into the part of the map no panel, control or
   finder covers (each taken off the side of the map that costs least). Runs after the panels and the layer switcher. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var bounds = L.latLngBounds({{ this.bounds|tojson }});
  var container = map.getContainer();
  function covered() {
    var box = container.getBoundingClientRect(), w = box.width, h = box.height;
    var pad = {left: 8, right: 8, top: 8, bottom: 8};
    var parts = Array.from(container.querySelectorAll(".leaflet-control"));
    var finder = container.parentNode.querySelector(".fp-finder");
    if (finder) { parts.push(finder); }
    parts.forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (!r.width || !r.height) { return; }
      var left = r.left - box.left, right = r.right - box.left, top = r.top - box.top, bottom = r.bottom - box.top;
      if (r.width * h <= r.height * w) {
        if (left + right < w) { pad.left = Math.max(pad.left, right + 8); } else { pad.right = Math.max(pad.right, w - left + 8); }
      } else if (top + bottom < h) { pad.top = Math.max(pad.top, bottom + 8); } else { pad.bottom = Math.max(pad.bottom, h - top + 8); }
    });
    return pad;
  }
  function fit() {
    var pad = covered(), size = map.getSize();
    if (size.x - pad.left - pad.right < 80 || size.y - pad.top - pad.bottom < 80) { return; }  // no room: as it is
    map.fitBounds(bounds, {paddingTopLeft: [pad.left, pad.top], paddingBottomRight: [pad.right, pad.bottom], animate: false});
  }
  var touched = false;
  function touch(ev) {  // the map itself moved by hand, not a panel used
    if (!ev || !ev.target || !ev.target.closest || !ev.target.closest(".leaflet-control")) { touched = true; }
  }
  ["mousedown", "touchstart", "wheel", "keydown"].forEach(function (kind) {
    container.addEventListener(kind, touch, {passive: true});
  });
  map.on("popupopen", touch);  // the finder opens a practice's popup where it zooms to
  fit();
  function again() { setTimeout(function () { if (!touched) { fit(); } }, 0); }
  container.querySelectorAll(".fp-legend > details > summary").forEach(function (s) { s.addEventListener("click", again); });
  map.on("resize", again);
})();
{% endmacro %}
