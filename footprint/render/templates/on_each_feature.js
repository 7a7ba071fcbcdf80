function (feature, layer) {
  var p = feature.properties || {};
  if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 380, maxHeight: 360}); }
  if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
}
