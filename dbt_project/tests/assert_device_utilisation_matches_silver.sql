-- Busy minutes per institution and device from silver/exams (epoch arithmetic instead of date_diff).
with silver as (
    select
        institution,
        device_station,
        round(sum(epoch(exam_ended_at) - epoch(exam_started_at)) / 60.0, 0) as busy
    from {{ source('silver', 'exams') }}
    where exam_started_at is not null and exam_ended_at is not null and status <> 'cancelled'
      and device_station is not null
    group by all
),

mart as (
    select institution, device_station, round(sum(busy_minutes), 0) as busy
    from {{ ref('device_utilisation_daily') }}
    group by all
)

select *
from silver
full outer join mart using (institution, device_station)
where abs(coalesce(silver.busy, -1) - coalesce(mart.busy, -1)) > 1
