select
    id as order_id,
    user_id as customer_id,
    ordered_at,
    lower(status) as status
from {{ source('raw', 'orders') }}
