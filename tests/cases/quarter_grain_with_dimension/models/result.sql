select * from {{ metrics.calculate(metric('amount_sum'), grain='quarter', dimensions=['country']) }}
