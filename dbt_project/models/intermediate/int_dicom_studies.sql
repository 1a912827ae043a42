-- One row per DICOM study, linked to its order on accession number (as silver/exams does). The DICOM PatientID
-- leaves this model only as a pseudonymous record key of the linked institution.
with instances as (
    select * from {{ ref('stg_bronze__dicom_instances') }}
),

studies as (
    select
        study_instance_uid,
        mode(accession_number) as accession_number,
        list_sort(list_distinct(list(modality))) as modalities,
        mode(modality) as modality,
        mode(station_name) as station_name,
        mode(institution_name) as institution_name,
        mode(body_part_examined) as body_part_examined,
        min(study_date) as study_date,
        count(distinct series_instance_uid) as series_count,
        count(*) as instance_count,
        mode(patient_id) as patient_id
    from instances
    where study_instance_uid is not null
    group by study_instance_uid
),

orders as (
    select
        accession_number,
        min(institution) as institution,
        min(patient_record_key) as patient_record_key,
        min(exam_codes) as exam_codes
    from {{ ref('stg_silver__exams') }}
    group by accession_number
),

linked as (
    select
        studies.study_instance_uid,
        studies.accession_number,
        studies.modalities,
        studies.modality,
        studies.station_name,
        studies.institution_name,
        studies.body_part_examined,
        studies.study_date,
        studies.series_count,
        studies.instance_count,
        orders.accession_number is not null as links_to_order,
        orders.institution,
        orders.exam_codes,
        orders.patient_record_key as order_patient_record_key,
        {{ pseudonym("orders.institution || ':' || studies.patient_id") }} as dicom_patient_record_key
    from studies
    left join orders on studies.accession_number = orders.accession_number
)

select * from linked
