-- Studies (study × AI) and results, counted from bronze/routing_results, against the daily mart's totals (small
-- cells fold AIs into '(other)', so the totals, not each AI's row, are what must agree; tests/gold/test_ai_results.py
-- checks each AI without folding).
{% if delta_table_exists('bronze', 'routing_results') %}
with per_study as (
    select coalesce(nullif(trim(ai_name), ''), 'unknown') as ai_name, study_instance_uid, count(*) as results
    from {{ source('bronze', 'routing_results') }}
    group by all
),

lake as (
    select count(*) as studies, sum(results) as results from per_study
),

mart as (
    select sum(studies) as studies, sum(results) as results from {{ ref('ai_turnaround_daily') }}
)

select lake.studies as lake_studies, mart.studies as mart_studies, lake.results as lake_results,
       mart.results as mart_results
from lake
cross join mart
where lake.studies is distinct from mart.studies or lake.results is distinct from mart.results
{% else %}
select * from {{ ref('ai_turnaround_daily') }} where false
{% endif %}
