-- A snapshot (type 2 history) of each nation's band, which the `cut` variable moves.
{% snapshot nation_bands %}
{{ config(target_schema='analytics', unique_key='n_nationkey', strategy='check', check_cols=['band']) }}
select n_nationkey, n_name,
       case when n_nationkey < {{ var("cut", 5) }} then 'low' else 'high' end as band
from {{ source('geo', 'nation') }}
{% endsnapshot %}
