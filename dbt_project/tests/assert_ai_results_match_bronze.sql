-- Per study and AI, the results and the turnaround recomputed from bronze: the study's first image landing read
-- from bronze/dicom_instances itself (its earliest instance that is not a result), not from the linked row.
{% if delta_table_exists('bronze', 'routing_results') %}
with results as (
    select study_instance_uid, coalesce(nullif(trim(ai_name), ''), 'unknown') as ai_name, result_id, result_at
    from {{ source('bronze', 'routing_results') }}
),

arrival as (
    select study_instance_uid, min(ingested_at) as first_image_at
    from {{ source('bronze', 'dicom_instances') }}
    where sop_instance_uid not in (select result_id from results)
    group by study_instance_uid
),

lake as (
    select r.study_instance_uid, r.ai_name, count(*) as results,
           round(date_diff('second', min(a.first_image_at), min(r.result_at)) / 60.0, 2) as turnaround_min
    from results as r
    join arrival as a using (study_instance_uid)
    group by all
),

mart as (
    select study_instance_uid, ai_name, results, turnaround_min from {{ ref('ai_results_by_study') }}
)

select *
from lake
full outer join mart using (study_instance_uid, ai_name)
where lake.results is distinct from mart.results or lake.turnaround_min is distinct from mart.turnaround_min
{% else %}
select * from {{ ref('ai_results_by_study') }} where false
{% endif %}
