function (feature, layer) {
  var p = feature.properties || {};
  var width = Math.max(200, Math.min(380, window.innerWidth - 90));
  var height = Math.max(160, Math.min(360, Math.round(window.innerHeight * 0.5)));
  if (p.popup) {
    layer.bindPopup(p.popup, {maxWidth: width, minWidth: Math.min(240, width), maxHeight: height,
      autoPanPaddingTopLeft: [10, 70], autoPanPaddingBottomRight: [10, 10]});
  }
  if (p.tip) { layer.bindTooltip(p.tip, {sticky: true}); }
}
