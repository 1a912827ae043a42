-- AI results per local day of the result and AI: studies, results, and the turnaround from a study's first image
-- landing to the AI's first result (median, 90th percentile). An AI with fewer than min_cell studies that day
-- is folded into one '(other)' row for the day, which shows no times while it stays under min_cell
-- (docs/SECURITY.md, "Small cells").
with by_study as (
    select *, cast(first_result_at as date) as result_date from {{ ref('ai_results_by_study') }}
),

sized as (
    select *, count(*) over (partition by result_date, ai_name) < {{ min_cell() }} as small from by_study
),

daily as (
    select
        result_date,
        case when small then {{ other_bucket() }} else ai_name end as ai_name,
        count(*) as studies,
        cast(sum(results) as bigint) as results,  -- a count stays an integer (not HUGEINT) for BI tools
        quantile_cont(turnaround_min, 0.5) as p50,
        quantile_cont(turnaround_min, 0.9) as p90,
        small as folded
    from sized
    group by all
),

final as (
    select
        result_date,
        ai_name,
        studies,
        results,
        case when studies >= {{ min_cell() }} then round(p50, 1) end as turnaround_p50_min,
        case when studies >= {{ min_cell() }} then round(p90, 1) end as turnaround_p90_min,
        folded
    from daily
)

select * from final
