-- The raw-name → standard-code map (optional: empty until standardization has run).
with source as (
    select * from {{ optional_source('silver', 'exam_name_map') }}
),

renamed as (
    select
        institution,
        raw_name,
        coalesce(codes, []) as codes,
        coalesce(standard_names, []) as standard_names,
        status as mapping_status,
        confidence,
        standard_version,
        mapped_by,
        mapped_at
    from source
)

select * from renamed
