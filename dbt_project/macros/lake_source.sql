{#
  Optional lake tables. A deployment may run without DICOM ingestion, exam-name standardization or the EMPI for
  a while; the marts then stay buildable (empty where that data is missing) instead of failing the whole build.
  The source() call comes first so dbt (and Dagster) always record the lineage.
#}

{% macro delta_table_exists(source_name, table_name) %}
  {%- if not execute -%}
    {{ return(true) }}
  {%- endif -%}
  {%- set log_glob = env_var('RADLAKE_LAKE') ~ '/' ~ source_name ~ '/' ~ table_name ~ '/_delta_log/*.json' -%}
  {%- set found = run_query("select count(*) from glob('" ~ log_glob ~ "')") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}


{% macro lake_columns(source_name, table_name) %}
  {#- {column: DuckDB type} of a lake table, from radlake's catalog (radlake.dbt_columns, passed by radlake's
      dbt environment as RADLAKE_LAKE_COLUMNS): the dbt project repeats no column list of the catalog. -#}
  {%- set tables = fromjson(env_var('RADLAKE_LAKE_COLUMNS', '{}')) -%}
  {%- set key = source_name ~ '.' ~ table_name -%}
  {%- if key not in tables -%}
    {{ exceptions.raise_compiler_error("RADLAKE_LAKE_COLUMNS names no table " ~ key ~ ": run dbt with radlake's environment (radlake.warehouse.dbt_env)") }}
  {%- endif -%}
  {{ return(tables[key]) }}
{% endmacro %}


{% macro optional_source(source_name, table_name) %}
  {#- The source relation, or an empty relation with the catalog's columns when the table does not exist yet. -#}
  {%- set relation = source(source_name, table_name) -%}
  {%- if delta_table_exists(source_name, table_name) -%}
    {{ relation }}
  {%- else -%}
    (select {% for name, type in lake_columns(source_name, table_name).items() %}cast(null as {{ type }}) as "{{ name }}"{{ ", " if not loop.last }}{% endfor %} where false)
  {%- endif -%}
{% endmacro %}
