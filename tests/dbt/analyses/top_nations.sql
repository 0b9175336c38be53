-- `dbt compile` renders this to target/compiled/; it is never run by dbt itself.
select * from {{ ref('orders_by_nation') }} order by total_price desc limit 5
