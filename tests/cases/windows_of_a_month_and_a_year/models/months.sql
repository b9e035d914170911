select * from {{ metrics.calculate(metric('two_month_window'), grain='month') }}
