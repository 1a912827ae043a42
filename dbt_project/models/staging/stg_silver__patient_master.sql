-- Patient records and their empi_id (optional: empty until the EMPI has run). record_id holds the mrn: only
-- the stewards' models read it.
with source as (
    select * from {{ optional_source('silver', 'patient_master', {
        'record_id': 'varchar', 'source_system': 'varchar', 'mrn': 'varchar', 'empi_id': 'varchar',
        'match_probability': 'double', 'link_rule': 'varchar', 'linked_at': 'timestamptz'}) }}
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
