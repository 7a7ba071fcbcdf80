{# Small screens get collapsed controls and panels; Esc closes any popup. Runs after the layer switcher is made. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || ev.key === "Esc") { map.closePopup(); }
  });
  if (window.matchMedia("(max-width: 700px)").matches) {
    Object.keys(window).forEach(function (key) {
      var value = window[key];
      if (value instanceof L.Control.Layers && value._map === map) {
        value.options.collapsed = true;
        value.remove();
        value.addTo(map);
      }
    });
    document.querySelectorAll(".fp-panel details").forEach(function (d) { d.open = false; });
  }
})();
{% endmacro %}
