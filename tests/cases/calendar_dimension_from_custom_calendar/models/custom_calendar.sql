with days as (
    {{ metrics.metric_date_spine(datepart="day", start_date="cast('2021-01-01' as date)", end_date="cast('2024-01-01' as date)") }}
)
select
    cast(date_day as date) as date_day,
    cast({{ date_trunc('week', 'date_day') }} as date) as date_week,
    cast({{ date_trunc('month', 'date_day') }} as date) as date_month,
    cast({{ date_trunc('quarter', 'date_day') }} as date) as date_quarter,
    cast({{ date_trunc('year', 'date_day') }} as date) as date_year,
    extract(isodow from date_day) >= 6 as is_weekend
from days
