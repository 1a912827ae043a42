-- Patient records and their empi_id (optional: empty until the EMPI has run). record_id holds the mrn: only
-- the stewards' models read it.
with source as (
    select * from {{ optional_source('silver', 'patient_master') }}
),

renamed as (
    select
        record_id,
        split_part(record_id, ':', 1) as institution,
        source_system,
        empi_id,
        match_probability,
        link_rule,
        linked_at
    from source
)

select * from renamed
