select * from {{ metrics.calculate(metric('year_window'), grain='quarter') }}
