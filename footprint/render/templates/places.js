{# Town and village names that show by zoom level: [lat, lon, name, min zoom, kind, own]. Text is set as text, never as HTML.
   Each label sits on its place, or just above, below or beside it, wherever it is clear of the panels, the open popup
   and the labels placed before it (own towns first, then the larger places); a label with no clear spot is hidden,
   except an own town's (a town of the map's CCG), which is never under a panel. When the map opens, it zooms out a
   little if an own town's label could not be placed clear of the panels. #}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var map = {{ this._parent.get_name() }};
  if (!map.getPane("fpPlaces")) {
    var pane = map.createPane("fpPlaces");
    pane.style.zIndex = 450;
    pane.style.pointerEvents = "none";
  }
  var group = L.layerGroup();
  var labels = {{ this.places|tojson }}.map(function (p) {
    var span = document.createElement("span");
    span.textContent = p[2];
    var icon = L.divIcon({className: "fp-place fp-place-" + p[4] + (p[5] ? " fp-place-own" : ""), html: span,
      iconSize: null});
    var marker = L.marker([p[0], p[1]], {icon: icon, interactive: false, keyboard: false, pane: "fpPlaces"});
    return {marker: marker, span: span, min: p[3], own: !!p[5], size: null};
  });
  labels.sort(function (a, b) { return (b.own ? 1 : 0) - (a.own ? 1 : 0); });  // stable: then largest first
  function boxOf(el, origin) {
    var r = el.getBoundingClientRect();
    return [r.left - origin.left, r.top - origin.top, r.right - origin.left, r.bottom - origin.top];
  }
  // What a label must not sit under: the panels, the finder, the open popup, the "You are here" mark.
  function obstacles() {
    var origin = map.getContainer().getBoundingClientRect();
    var found = [];
    var scope = map.getContainer().parentNode;
    scope.querySelectorAll(".leaflet-control, .fp-finder, .leaflet-popup, .fp-here-label span").forEach(function (el) {
      if (el.offsetWidth && el.offsetHeight) { found.push(boxOf(el, origin)); }
    });
    return found;
  }
  function hits(box, boxes) {
    for (var i = 0; i < boxes.length; i++) {
      var b = boxes[i];
      if (box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]) { return true; }
    }
    return false;
  }
  function overlap(box, boxes) {
    var total = 0;
    boxes.forEach(function (b) {
      var dx = Math.min(box[2], b[2]) - Math.max(box[0], b[0]), dy = Math.min(box[3], b[3]) - Math.max(box[1], b[1]);
      if (dx > 0 && dy > 0) { total += dx * dy; }
    });
    return total;
  }
  // Place every label due at this zoom; return how many labels are shown and how many own towns found no spot
  // clear of the panels.
  function layout() {
    if (!map.hasLayer(group)) { return {shown: 0, lost: 0}; }
    var zoom = map.getZoom(), size = map.getSize(), view = map.getBounds().pad(0.05);
    var due = labels.filter(function (l) { return zoom >= l.min && view.contains(l.marker.getLatLng()); });
    labels.forEach(function (l) { if (due.indexOf(l) < 0) { group.removeLayer(l.marker); } });
    due.forEach(function (l) { group.addLayer(l.marker); });
    due.forEach(function (l) {
      if (!l.size) { l.size = [l.span.offsetWidth, l.span.offsetHeight]; }
    });
    var blocks = obstacles(), placed = [], lost = 0;
    due.forEach(function (l) {
      var w = l.size[0], h = l.size[1], p = map.latLngToContainerPoint(l.marker.getLatLng());
      var spots = [[0, 0], [0, -h * 0.9], [0, h * 0.9], [w / 2 + 6, 0], [-w / 2 - 6, 0],
        [w / 2 + 4, -h * 0.8], [w / 2 + 4, h * 0.8], [-w / 2 - 4, -h * 0.8], [-w / 2 - 4, h * 0.8],
        [0, -h * 1.8], [0, h * 1.8]];
      var boxes = spots.map(function (s) {
        var x = p.x + s[0] - w / 2, y = p.y + s[1] - h / 2;
        return [x, y, x + w, y + h];
      });
      function inside(b) { return b[0] >= 2 && b[1] >= 2 && b[2] <= size.x - 2 && b[3] <= size.y - 2; }
      var pick = -1, i;
      for (i = 0; i < boxes.length && pick < 0; i++) {
        if (inside(boxes[i]) && !hits(boxes[i], blocks) && !hits(boxes[i], placed)) { pick = i; }
      }
      if (pick < 0 && l.own) {  // an own town is shown even over another label (the least), never under a panel
        var least = Infinity;
        for (i = 0; i < boxes.length; i++) {
          if (inside(boxes[i]) && !hits(boxes[i], blocks) && overlap(boxes[i], placed) < least) {
            pick = i;
            least = overlap(boxes[i], placed);
          }
        }
        if (pick < 0) { lost += 1; }
      }
      if (pick < 0) { group.removeLayer(l.marker); return; }
      placed.push(boxes[pick]);
      l.span.style.left = (spots[pick][0] - w / 2) + "px";
      l.span.style.top = (spots[pick][1] - h / 2) + "px";
    });
    return {shown: placed.length, lost: lost};
  }
  map.fpPlaces = {layout: layout};  // the finder zooms out until a place is named around the practice it shows
  var pending = null;
  function later() {
    if (pending === null) { pending = setTimeout(function () { pending = null; layout(); }, 0); }
  }
  map.on("zoomend moveend resize popupopen popupclose overlayadd", later);
  document.addEventListener("toggle", later, true);  // a panel opened or closed
  group.on("add", later);
  map.whenReady(function () {
    setTimeout(function () {
      // Open clear of the panels: zoom out a little while an own town's label is under one.
      for (var step = 0; step < 6 && layout().lost > 0; step++) {
        map.setZoom(map.getZoom() - 0.25, {animate: false});
      }
      layout();
    }, 0);
  });
  return group;
})();
{% endmacro %}
