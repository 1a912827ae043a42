{#
  Segments of a 14-digit standard exam code (radlake/reference/exam_standard/v1/RULES.md):
  modality (1-2), body part (3-8), scan method (9-10), post-processing / view (11-12), add-on (13-14).
#}
{% macro code_modality(code) %}substr({{ code }}, 1, 2){% endmacro %}
{% macro code_body_part(code) %}substr({{ code }}, 3, 6){% endmacro %}
{% macro code_scan_method(code) %}substr({{ code }}, 9, 2){% endmacro %}
{% macro code_post_processing(code) %}substr({{ code }}, 11, 2){% endmacro %}
{% macro code_addon(code) %}substr({{ code }}, 13, 2){% endmacro %}
