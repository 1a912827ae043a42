-- DICOM studies that link to no order: no accession number in the header, or one no RIS knows.
with studies as (
    select * from {{ ref('int_dicom_studies') }}
    where not links_to_order
)

select
    study_instance_uid,
    case when accession_number is null then 'no_accession' else 'unknown_accession' end as reason,
    accession_number,
    institution_name,
    station_name,
    modality,
    study_date,
    series_count,
    instance_count
from studies
