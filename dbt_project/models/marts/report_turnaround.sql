-- Turnaround of performed exams, step by step (order → exam start → exam end → report written → report signed),
-- as medians and 90th percentiles in minutes, per institution, modality, priority and ordering department.
-- A group of fewer than min_cell exams (privacy.min_cell) first loses its department (its exams join the
-- '(other)' department of their institution, modality and priority); what is still under min_cell is folded into
-- one '(other)' row per institution (folded = true), whose percentiles are left out while it stays that small.
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
        {{ minutes_between('ordered_at', 'report_signed_at') }} as order_to_signed,
        count(*) over (partition by institution, modality, priority, ordering_department) as cell_exams
    from exams
),

-- Exams of small cells, counted per institution, modality and priority: enough to show without department?
sized as (
    select
        *,
        count(*) filter (where cell_exams < {{ min_cell() }})
            over (partition by institution, modality, priority) as small_exams
    from steps
),

placed as (
    select
        *,
        case
            when cell_exams >= {{ min_cell() }} then 0
            when small_exams >= {{ min_cell() }} then 1
            else 2
        end as level
    from sized
),

final as (
    select
        institution,
        case when level = 2 then {{ other_bucket() }} else modality end as modality,
        case when level = 2 then {{ other_bucket() }} else priority end as priority,
        case when level = 0 then ordering_department else {{ other_bucket() }} end as ordering_department,
        count(*) as performed_exams,
        count(*) filter (where is_written) as written_reports,
        count(*) filter (where is_signed) as signed_reports,
        {% for step in ['order_to_start', 'start_to_end', 'end_to_written', 'written_to_signed', 'order_to_signed'] %}
        case when count(*) >= {{ min_cell() }} then round(quantile_cont({{ step }}, 0.5), 1) end
            as {{ step }}_p50_min,
        case when count(*) >= {{ min_cell() }} then round(quantile_cont({{ step }}, 0.9), 1) end
            as {{ step }}_p90_min,
        {% endfor %}
        level = 2 as folded
    from placed
    group by all
)

select * from final
