-- AI results linked to their source study (optional: empty until `radlake route results` ran). The JSON payload
-- and the file path stay in bronze: the marts need who, what kind, and when.
with source as (
    select * from {{ optional_source('bronze', 'routing_results') }}
),

renamed as (
    select
        result_id,
        kind,
        study_instance_uid,
        coalesce(nullif(trim(ai_name), ''), 'unknown') as ai_name,
        result_at,
        first_image_at
    from source
)

select * from renamed
