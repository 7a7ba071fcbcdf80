{# Small screens get collapsed controls and panels; Esc closes any popup. Runs before the layer switcher is made, after the panels. #}
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || ev.key === "Esc") { map.closePopup(); }
  });
  if (window.matchMedia("(max-width: 700px)").matches) {
    L.Control.Layers.addInitHook(function () { this.options.collapsed = true; });
    document.querySelectorAll(".fp-panel details").forEach(function (d) { d.open = false; });
  }
})();
{% endmacro %}
