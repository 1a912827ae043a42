-- Patient records (`<institution>:<mrn>`) for which the lake offers more than one empi_id (stewards' file):
-- the EMPI's own (patient_master), the one stamped on the record's exams (silver/exams, stale after a re-link),
-- and the EMPI's id for the DICOM PatientID of the record's studies (images filed under another patient).
with master as (
    select record_id, institution, empi_id, 'patient_master' as evidence
    from {{ ref('stg_silver__patient_master') }}
),

exams as (
    select record_id, institution, empi_id, 'exams' as evidence
    from {{ ref('stg_silver__exams') }}
),

images as (
    select
        studies.order_record_id as record_id,
        studies.institution,
        master.empi_id,
        'dicom_patient_id' as evidence
    from {{ ref('int_dicom_studies') }} as studies
    inner join master on master.record_id = studies.dicom_record_id
    where studies.links_to_order
),

candidates as (
    select * from master
    union all
    select * from exams
    union all
    select * from images
),

per_record as (
    select
        record_id,
        min(institution) as institution,
        list_sort(list_distinct(list(empi_id))) as candidate_empi_ids,
        count(distinct empi_id) as candidate_count,
        list_sort(list_distinct(list(evidence))) as evidence
    from candidates
    where record_id is not null and empi_id is not null
    group by record_id
),

exam_counts as (
    select record_id, count(*) as exams
    from {{ ref('stg_silver__exams') }}
    group by record_id
)

select
    per_record.record_id,
    per_record.institution,
    per_record.candidate_empi_ids,
    per_record.candidate_count,
    per_record.evidence,
    coalesce(exam_counts.exams, 0) as exams
from per_record
left join exam_counts on exam_counts.record_id = per_record.record_id
where per_record.candidate_count > 1
