-- Share of instances carrying each header field the consensus requires (seed consensus_header_fields), per
-- study day (the study's StudyDate: the console's date filter), institution (of the linked order; '(unlinked)'
-- when the study matches no order), device and modality.
with instances as (
    select * from {{ ref('stg_bronze__dicom_instances') }}
),

studies as (
    select study_instance_uid, institution, study_date from {{ ref('int_dicom_studies') }}
),

required as (
    select * from {{ ref('consensus_header_fields') }}
),

fields as (
    select
        studies.study_date,
        coalesce(studies.institution, '(unlinked)') as institution,
        coalesce(instances.station_name, '(missing)') as station_name,
        instances.modality,
        unnest([
            {% for field, flag in header_field_flags().items() %}
            {'header_field': '{{ field }}', 'is_present': instances.{{ flag }}}{{ "," if not loop.last }}
            {% endfor %}
        ], recursive := true)
    from instances
    left join studies on studies.study_instance_uid = instances.study_instance_uid
),

final as (
    select
        fields.study_date,
        fields.institution,
        fields.station_name,
        fields.modality,
        fields.header_field,
        required.dicom_tag,
        required.name_zh,
        count(*) as instances,
        count(*) filter (where fields.is_present) as instances_present,
        round(count(*) filter (where fields.is_present) / count(*), 4) as share_present
    from fields
    inner join required
        on required.modality = fields.modality and required.header_field = fields.header_field
    group by all
)

select * from final
