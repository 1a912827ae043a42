-- AI results linked to their source study (optional: empty until `radlake route results` ran). The JSON payload
-- and the file path stay in bronze: the marts need who, what kind, and when.
with source as (
    select * from {{ optional_source('bronze', 'routing_results', {
        'result_id': 'varchar', 'kind': 'varchar', 'study_instance_uid': 'varchar',
        'series_instance_uid': 'varchar', 'ai_name': 'varchar', 'result_at': 'timestamptz',
        'first_image_at': 'timestamptz', 'source': 'varchar', 'payload_json': 'varchar'}) }}
),

renamed as (
    select
        result_id,
        kind,
        study_instance_uid,
        coalesce(nullif(trim(ai_name), ''), 'unknown') as ai_name,
        result_at,
        first_image_at,
        -- Turnaround: from the study's first image landing to the result landing.
        {{ minutes_between('first_image_at', 'result_at') }} as turnaround_min
    from source
)

select * from renamed
