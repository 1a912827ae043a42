{#
  A pseudonymous key for a personal identifier (e.g. a patient record id `<institution>:<mrn>`): the first 16
  hex digits of SHA-256 over a site secret and the value. Gold carries these keys, never the identifier itself.
  The secret comes from RADLAKE_PSEUDONYM_SALT (empty when unset: keys are then only as strong as the values).
#}
{% macro pseudonym(expression) -%}
  case when {{ expression }} is null then null
       else substr(sha256('{{ env_var("RADLAKE_PSEUDONYM_SALT", "") | replace("'", "''") }}' || {{ expression }}), 1, 16)
  end
{%- endmacro %}
