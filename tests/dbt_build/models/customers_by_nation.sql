-- A view over two domains' products: customers with their nation.
{{ config(materialized='view') }}
select c.c_custkey, c.c_name, c.c_mktsegment, n.n_name as nation
from {{ source('sales', 'customer') }} c
join {{ source('geo', 'nation') }} n on c.c_nationkey = n.n_nationkey
