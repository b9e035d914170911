select * from {{ metrics.calculate(metric('amount_sum'), grain='quarter', dimensions=['country', 'status'], secondary_calculations=[metrics.rolling(aggregate='sum', interval=2)]) }}
