-- Incremental, append: each run adds the orders after the newest one already loaded, up to the
-- `until` variable (so the second run has new rows to add).
{{ config(materialized='incremental') }}
select o_orderkey, o_custkey, o_orderdate, o_totalprice
from {{ source('sales', 'orders') }}
where o_orderdate < cast('{{ var("until", "1995-01-01") }}' as date)
{% if is_incremental() %}
  and o_orderdate >= (select max(o_orderdate) from {{ this }})
  and o_orderkey not in (select o_orderkey from {{ this }})
{% endif %}
