{# A Leaflet control holding fixed HTML (a panel, a legend). #}
{% macro script(this, kwargs) %}
(function () {
  var control = L.control({position: {{ this.position|tojson }}});
  control.onAdd = function () {
    var div = L.DomUtil.create("div", {{ this.css_class|tojson }});
    div.innerHTML = {{ this.content|tojson }};
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
  };
  control.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
