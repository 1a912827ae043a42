{% test unique_combination(model, columns) %}
-- The named columns together identify a row (a local stand-in for dbt_utils, which needs a download).
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
