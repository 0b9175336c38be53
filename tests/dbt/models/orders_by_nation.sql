-- Ephemeral: dbt inlines it as a CTE wherever it is used, and writes nothing to the mesh.
select
    n.n_name as nation,
    count(*) as orders,
    sum(o.o_totalprice) as total_price
from {{ source('sales', 'orders') }} o
join {{ source('sales', 'customer') }} c on c.c_custkey = o.o_custkey
join {{ source('geo', 'nation') }} n on n.n_nationkey = c.c_nationkey
group by n.n_name
