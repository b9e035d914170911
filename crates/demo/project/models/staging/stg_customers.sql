select
    id as customer_id,
    first_name,
    last_name,
    lower(email) as email,
    upper(country_code) as country,
    segment,
    signed_up_at
from {{ source('raw', 'customers') }}
