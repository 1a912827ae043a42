-- Exams as the marts use them: local exam day and the columns marts need. The exam's keyed pseudonym (exam_key)
-- is what analysts' marts select; accession_number and the patient record id are for the stewards' models.
with source as (
    select * from {{ source('silver', 'exams') }}
),

renamed as (
    select
        institution,
        accession_number,
        radlake_pseudonym(institution || ':' || accession_number) as exam_key,
        empi_id,
        institution || ':' || mrn as record_id,
        priority,
        ordering_department,
        raw_exam_name,
        modality,
        status,
        ordered_at,
        exam_started_at,
        exam_ended_at,
        exam_date,
        device_station,
        report_status,
        report_written_at,
        report_signed_at,
        study_instance_uid,
        has_images,
        exam_codes,
        exam_name_status,
        -- Performed: an exam record exists and the order was not cancelled (the rule of exam_volume_daily).
        (exam_started_at is not null and status <> 'cancelled') as is_performed
    from source
)

select * from renamed
