select * from {{ metrics.calculate(metric('doubled'), grain='quarter', secondary_calculations=[metrics.period_over_period(comparison_strategy='difference', interval=1)]) }}
