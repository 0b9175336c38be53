-- Incremental with a unique key (dbt-postgres: delete+insert): one row per nation, replaced
-- when it changes.
{{ config(materialized='incremental', unique_key='n_nationkey') }}
select n.n_nationkey, n.n_name, count(*) as customers, max(c.c_acctbal) as top_balance
from {{ source('sales', 'customer') }} c
join {{ source('geo', 'nation') }} n on c.c_nationkey = n.n_nationkey
where n.n_regionkey <= {{ var("max_region", 2) }}
group by n.n_nationkey, n.n_name
