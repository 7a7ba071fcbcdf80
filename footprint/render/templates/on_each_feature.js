function (feature, layer) {
  var p = feature.properties || {};
  var width = Math.max(200, Math.min(620, window.innerWidth - 90));
  var height = Math.max(200, window.innerHeight - 150);
  if (p.popup) {
    // panned into view clear of the finder and the panels when it opens (templates/ui.js)
    layer.bindPopup(p.popup, {maxWidth: width, minWidth: Math.min(260, width), maxHeight: height, autoPan: false});
  }
  if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
  // Out of the tab order: keyboard users reach practices and their PCNs through the finder.
  layer.on("add", function () {
    var el = layer.getElement && layer.getElement();
    if (el) { el.setAttribute("tabindex", "-1"); }
  });
}
