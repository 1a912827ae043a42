-- Turnaround of performed exams, step by step (order → exam start → exam end → report written → report signed),
-- as medians and 90th percentiles in minutes, per institution, modality, priority and ordering department.
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed
),

steps as (
    select
        institution,
        modality,
        priority,
        ordering_department,
        report_written_at is not null as is_written,
        report_signed_at is not null as is_signed,
        {{ minutes_between('ordered_at', 'exam_started_at') }} as order_to_start,
        {{ minutes_between('exam_started_at', 'exam_ended_at') }} as start_to_end,
        {{ minutes_between('exam_ended_at', 'report_written_at') }} as end_to_written,
        {{ minutes_between('report_written_at', 'report_signed_at') }} as written_to_signed,
        {{ minutes_between('ordered_at', 'report_signed_at') }} as order_to_signed
    from exams
),

final as (
    select
        institution,
        modality,
        priority,
        ordering_department,
        count(*) as performed_exams,
        count(*) filter (where is_written) as written_reports,
        count(*) filter (where is_signed) as signed_reports,
        {% for step in ['order_to_start', 'start_to_end', 'end_to_written', 'written_to_signed', 'order_to_signed'] %}
        round(quantile_cont({{ step }}, 0.5), 1) as {{ step }}_p50_min,
        round(quantile_cont({{ step }}, 0.9), 1) as {{ step }}_p90_min{{ "," if not loop.last }}
        {% endfor %}
    from steps
    group by all
)

select * from final
