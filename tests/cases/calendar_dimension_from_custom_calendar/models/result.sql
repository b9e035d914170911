select * from {{ metrics.calculate(metric('amount_sum'), grain='month', dimensions=['is_weekend']) }}
