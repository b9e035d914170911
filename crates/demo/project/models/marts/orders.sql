-- One row per order, with what was paid for it and who placed it.

with orders as (

    select * from {{ ref('stg_orders') }}

),

customers as (

    select * from {{ ref('stg_customers') }}

),

payments as (

    select
        *,
        row_number() over (partition by order_id order by amount desc, payment_id) as payment_rank
    from {{ ref('stg_payments') }}

),

order_payments as (

    select
        order_id,
        sum(amount) as amount,
        count(*) as payment_count,
        max(case when payment_rank = 1 then payment_method end) as payment_method
    from payments
    group by order_id

)

select
    orders.order_id,
    orders.customer_id,
    cast(orders.ordered_at as date) as ordered_at,
    orders.ordered_at as placed_at,
    orders.status,
    order_payments.amount,
    coalesce(order_payments.payment_count, 0) as payment_count,
    coalesce(order_payments.payment_method, 'none') as payment_method,
    customers.country,
    customers.segment,
    row_number() over (
        partition by orders.customer_id order by orders.ordered_at, orders.order_id
    ) as customer_order_number
from orders
left join order_payments on order_payments.order_id = orders.order_id
left join customers on customers.customer_id = orders.customer_id
