-- A table: orders per market segment against the seeded targets.
{{ config(materialized='table') }}
select t.segment, t.target_orders, count(o.o_orderkey) as orders, sum(o.o_totalprice) as revenue
from {{ ref('segment_targets') }} t
left join {{ ref('customers_by_nation') }} c on c.c_mktsegment = t.segment
left join {{ source('sales', 'orders') }} o on o.o_custkey = c.c_custkey
group by t.segment, t.target_orders
