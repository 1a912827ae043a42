-- Which AI ran on which study, when, and how long after the study's first image landed its first result came.
with results as (
    select * from {{ ref('stg_bronze__routing_results') }}
),

final as (
    select
        study_instance_uid,
        ai_name,
        string_agg(distinct kind, ',' order by kind) as kinds,
        count(*) as results,
        min(first_image_at) as first_image_at,
        min(result_at) as first_result_at,
        max(result_at) as last_result_at,
        round({{ minutes_between('min(first_image_at)', 'min(result_at)') }}, 2) as turnaround_min
    from results
    group by study_instance_uid, ai_name
)

select * from final
