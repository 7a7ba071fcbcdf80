{# The short data credit in the map's corner (Leaflet reads it as HTML, so it is escaped first). #}
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.credit|escape|string|tojson }});
{% endmacro %}
