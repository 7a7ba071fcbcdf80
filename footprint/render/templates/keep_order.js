{# Keep the layers stacked in order (areas under markers) when one is switched back on. #}
{% macro script(this, kwargs) %}
{% set map = this._parent.get_name() %}
{{ map }}.on('overlayadd', function () { [{{ this.layer_names|join(", ") }}].forEach(function (layer) { if ({{ map }}.hasLayer(layer)) { layer.bringToFront(); } }); });
{% endmacro %}
