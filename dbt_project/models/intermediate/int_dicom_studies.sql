-- One row per DICOM study (silver's roll-up), linked to its order on accession number (as silver/exams does),
-- with the body parts of its series (a set: the chest rule asks whether any series is a chest).
with studies as (
    select * from {{ ref('stg_silver__dicom_studies') }}
),

series as (
    select
        study_instance_uid,
        list_sort(list_distinct(list(body_part_examined))) as body_parts
    from {{ ref('stg_silver__dicom_series') }}
    group by study_instance_uid
),

orders as (
    select
        accession_number,
        min(institution) as institution,
        min(record_id) as order_record_id,
        min(exam_codes) as exam_codes
    from {{ ref('stg_silver__exams') }}
    group by accession_number
),

linked as (
    select
        studies.study_instance_uid,
        studies.study_key,
        studies.accession_number,
        studies.modalities,
        -- The study's modality for figures by modality: its distinct modalities joined (CT, or CT,SR).
        nullif(array_to_string(studies.modalities, ','), '') as modality,
        studies.station_name,
        studies.institution_name,
        coalesce(series.body_parts, []) as body_parts,
        studies.study_date,
        studies.series_count,
        studies.instance_count,
        orders.accession_number is not null as links_to_order,
        orders.institution,
        orders.exam_codes,
        orders.order_record_id,
        orders.institution || ':' || studies.patient_id as dicom_record_id
    from studies
    left join series on series.study_instance_uid = studies.study_instance_uid
    left join orders on orders.accession_number = studies.accession_number
)

select * from linked
