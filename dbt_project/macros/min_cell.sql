{# The minimum cell size of the analysts' marts (privacy.min_cell, default 5): a count of fewer exams than this
   is folded into a coarser row or shown without its times (docs/SECURITY.md, "Small cells"). #}
{% macro min_cell() -%}
  {{ var('min_cell') | int }}
{%- endmacro %}

{# The value a folded row shows in place of the attributes it no longer keeps (modality, priority, department). #}
{% macro other_bucket() -%}
  '(other)'
{%- endmacro %}
