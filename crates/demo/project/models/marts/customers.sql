-- One row per customer, with their order history summed up.

with customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('orders') }}

),

customer_orders as (

    select
        customer_id,
        min(ordered_at) as first_order_on,
        max(ordered_at) as most_recent_order_on,
        count(*) as number_of_orders,
        sum(amount) as lifetime_value
    from orders
    group by customer_id

)

select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.email,
    customers.country,
    customers.segment,
    cast(customers.signed_up_at as date) as signed_up_on,
    customer_orders.first_order_on,
    customer_orders.most_recent_order_on,
    coalesce(customer_orders.number_of_orders, 0) as number_of_orders,
    coalesce(customer_orders.lifetime_value, 0) as lifetime_value
from customers
left join customer_orders on customer_orders.customer_id = customers.customer_id
