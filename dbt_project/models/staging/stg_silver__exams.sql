-- Exams as the marts use them: local exam day and the columns marts need, no personal data.
with source as (
    select * from {{ source('silver', 'exams') }}
),

renamed as (
    select
        institution,
        accession_number,
        order_id,
        empi_id,
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
        report_written_at,
        report_signed_at,
        study_instance_uid,
        has_images,
        exam_codes,
        exam_name_status
    from source
)

select * from renamed
