-- Incremental with the `merge` strategy: rows matched by key are updated, new keys inserted.
{{ config(materialized='incremental', unique_key='r_regionkey', incremental_strategy='merge') }}
select r_regionkey, r_name, {{ var("run", 1) }} as run
from {{ source('geo', 'region') }}
{% if is_incremental() %}
where r_regionkey >= 0
{% endif %}
