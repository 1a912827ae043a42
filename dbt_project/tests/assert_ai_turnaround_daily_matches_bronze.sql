-- Studies and results per AI, counted from bronze/routing_results, against the daily mart's totals.
{% if delta_table_exists('bronze', 'routing_results') %}
with lake as (
    select coalesce(nullif(trim(ai_name), ''), 'unknown') as ai_name,
           count(distinct study_instance_uid) as studies, count(*) as results
    from {{ source('bronze', 'routing_results') }}
    group by all
),

mart as (
    select ai_name, sum(studies) as studies, sum(results) as results
    from {{ ref('ai_turnaround_daily') }}
    group by all
)

select *
from lake
full outer join mart using (ai_name)
where lake.studies is distinct from mart.studies or lake.results is distinct from mart.results
{% else %}
select * from {{ ref('ai_turnaround_daily') }} where false
{% endif %}
