-- AI results per local day of the result and AI: studies, results, and the turnaround from a study's first image
-- landing to the AI's first result (median, 90th percentile). A day × AI of fewer than min_cell studies keeps its
-- counts and loses its times (docs/SECURITY.md, "Small cells").
with by_study as (
    select * from {{ ref('ai_results_by_study') }}
),

daily as (
    select
        cast(first_result_at as date) as result_date,
        ai_name,
        count(*) as studies,
        sum(results) as results,
        quantile_cont(turnaround_min, 0.5) as p50,
        quantile_cont(turnaround_min, 0.9) as p90
    from by_study
    group by all
),

final as (
    select
        result_date,
        ai_name,
        studies,
        results,
        case when studies >= {{ min_cell() }} then round(p50, 1) end as turnaround_p50_min,
        case when studies >= {{ min_cell() }} then round(p90, 1) end as turnaround_p90_min
    from daily
)

select * from final
