-- One row per standard code seen in the name map: its standard name (the map lists names beside codes).
with map as (
    select * from {{ ref('stg_silver__exam_name_map') }}
    where len(codes) > 0
),

pairs as (
    select
        unnest(codes) as standard_code,
        unnest(standard_names) as standard_name
    from map
)

select
    standard_code,
    -- One code names one item; min() picks deterministically should two spellings ever coexist.
    min(standard_name) as standard_name
from pairs
where standard_code is not null
group by standard_code
