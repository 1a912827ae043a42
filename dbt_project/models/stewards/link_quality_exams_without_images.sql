-- Performed exams with no DICOM study linked on accession number (images never arrived, or arrived under
-- another accession number).
with exams as (
    select * from {{ ref('stg_silver__exams') }}
    where is_performed and not coalesce(has_images, false)
)

select
    institution,
    accession_number,
    exam_date,
    modality,
    priority,
    ordering_department,
    device_station,
    status,
    exam_started_at,
    exam_ended_at
from exams
