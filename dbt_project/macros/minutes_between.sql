{# Minutes from one timestamp to another (fractional; null when either is null). #}
{% macro minutes_between(start, stop) -%}
  (date_diff('second', {{ start }}, {{ stop }}) / 60.0)
{%- endmacro %}
