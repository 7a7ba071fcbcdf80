{# The map's label; small screens get collapsed controls and panels, short ones a collapsed legend; while a popup is
   open the summary, legend and layer switcher fold to their headings (and come back when it closes); Esc closes a
   popup, and focus lost with a closed popup goes back to the finder. Runs before the layer switcher is made, after
   the panels. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var container = map.getContainer();
  container.setAttribute("role", "region");
  container.setAttribute("aria-label", {{ this.label|tojson }});
  var switchers = [];
  L.Control.Layers.addInitHook(function () { switchers.push(this); });
  if (window.matchMedia("(max-width: 700px)").matches) {
    L.Control.Layers.addInitHook(function () { this.options.collapsed = true; });
    container.querySelectorAll(".fp-panel details").forEach(function (d) { d.open = false; });
  } else if (window.matchMedia("(max-height: 900px)").matches) {
    container.querySelectorAll(".fp-legend > details").forEach(function (d) { d.open = false; });
  }
  var folded = null;
  function popupShown() { return container.querySelector(".leaflet-popup") !== null && map._popup && map.hasLayer(map._popup); }
  // A popup opens below the finder and clear of the folded panels, the scale and the credit under it, as tall as
  // fits between them (its content scrolls only where even that is too little, as on a phone). The map pans at
  // once, not animated, so the popup is where it stays as soon as it opens.
  function panClear(popup, top, bottom) {
    var box = container.getBoundingClientRect(), edge = popup.getElement().getBoundingClientRect();
    var size = map.getSize(), dx = 0, dy = 0;
    var left = edge.left - box.left, right = edge.right - box.left, up = edge.top - box.top, down = edge.bottom - box.top;
    if (right + 10 > size.x) { dx = right + 10 - size.x; }
    if (left - dx < 10) { dx = left - 10; }
    if (down + bottom > size.y) { dy = down + bottom - size.y; }
    if (up - dy < top) { dy = up - top; }
    if (dx || dy) { map.panBy([Math.round(dx), Math.round(dy)], {animate: false}); }
  }
  function fit(popup) {
    if (map._panAnim) { map._panAnim.stop(); }
    var box = container.getBoundingClientRect(), height = map.getSize().y;
    var top = 10, bottom = 10, finder = container.parentNode.querySelector(".fp-finder");
    if (finder && finder.offsetHeight) { top = Math.max(top, finder.getBoundingClientRect().bottom - box.top + 8); }
    popup.options.maxHeight = Math.max(160, height - top - bottom - 48);
    popup.update();
    panClear(popup, top, bottom);
    var edge = popup.getElement().getBoundingClientRect();
    container.querySelectorAll(".leaflet-bottom .leaflet-control").forEach(function (c) {
      var r = c.getBoundingClientRect();
      if (r.width && r.right > edge.left && r.left < edge.right) { bottom = Math.max(bottom, box.bottom - r.top + 6); }
    });
    popup.options.maxHeight = Math.max(160, height - top - bottom - 48);
    popup.update();
    panClear(popup, top, bottom);
  }
  map.on("popupopen", function (ev) {
    if (folded) { fit(ev.popup); return; }
    folded = {details: [], switchers: []};
    container.querySelectorAll(".fp-summary > details[open], .fp-legend > details[open]").forEach(function (d) {
      d.open = false;
      folded.details.push(d);
    });
    switchers.forEach(function (c) {
      var box = c.getContainer && c.getContainer();
      if (c._map === map && box && L.DomUtil.hasClass(box, "leaflet-control-layers-expanded")) {
        c.collapse();
        folded.switchers.push(c);
      }
    });
    fit(ev.popup);
  });
  map.on("popupclose", function () {
    setTimeout(function () {
      if (!folded || popupShown()) { return; }
      folded.details.forEach(function (d) { d.open = true; });
      folded.switchers.forEach(function (c) { c.expand(); });
      folded = null;
      if (!document.activeElement || document.activeElement === document.body) {
        var input = container.parentNode.querySelector(".fp-finder input");
        if (input) { input.focus({preventScroll: true}); }
      }
    }, 0);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || ev.key === "Esc") { map.closePopup(); }
  });
})();
{% endmacro %}
