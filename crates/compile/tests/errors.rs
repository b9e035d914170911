//! Bad dbt-SQL gives an error of the right kind that names the metric, argument or relation.

mod common;
use common::error;
use strata_compile::ErrorKind;

fn calc(args: &str) -> String {
    format!("select * from {{{{ metrics.calculate({args}) }}}}")
}

#[track_caller]
fn check(sql: &str, kind: ErrorKind, needles: &[&str]) {
    let e = error(sql);
    assert_eq!(e.kind, kind, "{e}");
    for n in needles {
        assert!(e.to_string().contains(n), "'{n}' not in: {e}");
    }
}

#[test]
fn unknown_metric_suggests_a_close_name() {
    check(
        &calc("metric('revenu'), grain='month'"),
        ErrorKind::UnknownMetric,
        &["revenu", "did you mean 'revenue'"],
    );
}

#[test]
fn grain_not_in_time_grains() {
    check(
        &calc("metric('revenue_30d'), grain='year'"),
        ErrorKind::InvalidArgument,
        &["year", "revenue_30d", "day, week, month"],
    );
    check(
        &calc("metric('revenue'), grain='fortnight'"),
        ErrorKind::InvalidArgument,
        &["fortnight"],
    );
    check(
        &calc("metric('revenue'), grain=['month']"),
        ErrorKind::InvalidArgument,
        &["grain must be a string"],
    );
}

#[test]
fn grain_is_checked_on_parents_of_derived_metrics() {
    check(
        &calc("metric('net_revenue_share'), grain='week'"),
        ErrorKind::InvalidArgument,
        &["week", "net_revenue_share"],
    );
}

#[test]
fn undeclared_dimension() {
    check(
        &calc("metric('completed_revenue'), grain='month', dimensions=['status']"),
        ErrorKind::UnknownDimension,
        &["status", "completed_revenue", "country"],
    );
    check(
        &calc("metric('revenue'), dimensions='status'"),
        ErrorKind::InvalidArgument,
        &["dimensions must be a list"],
    );
}

#[test]
fn where_given_as_a_list() {
    check(
        &calc("metric('revenue'), grain='month', where=[\"status = 'x'\"]"),
        ErrorKind::InvalidArgument,
        &["where must be one SQL string"],
    );
}

#[test]
fn run_query_is_refused() {
    check(
        "{% set r = run_query('select 1') %}select 1",
        ErrorKind::Unsupported,
        &["run_query", "introspective"],
    );
    check(
        "{{ adapter.get_columns_in_relation(ref('orders')) }}",
        ErrorKind::Unsupported,
        &["adapter.get_columns_in_relation"],
    );
}

#[test]
fn ref_to_a_missing_model() {
    check(
        "select * from {{ ref('customers') }}",
        ErrorKind::UnknownRelation,
        &["customers"],
    );
    check(
        "select * from {{ source('raw', 'orders') }}",
        ErrorKind::UnknownRelation,
        &["source('raw', 'orders')"],
    );
}

#[test]
fn jinja_syntax_error_names_the_problem() {
    let e = error("select * from {{ ref('orders') ");
    assert_eq!(e.kind, ErrorKind::Template, "{e}");
    assert!(e.to_string().contains("syntax error"), "{e}");
}

#[test]
fn secondary_calculations_need_a_grain() {
    check(
        &calc("metric('revenue'), secondary_calculations=[metrics.rolling(aggregate='sum', interval=3)]"),
        ErrorKind::InvalidArgument,
        &["Using secondary calculations without a grain is not supported."],
    );
}

#[test]
fn secondary_aggregate_must_suit_the_metric() {
    check(
        &calc(
            "metric('average_amount'), grain='month', secondary_calculations=[metrics.period_to_date(aggregate='average', period='year')]",
        ),
        ErrorKind::InvalidArgument,
        &[
            "Can't calculate secondary aggregate average when metric's aggregation is average",
            "min, max",
        ],
    );
    check(
        &calc(
            "metric('revenue_per_customer'), grain='month', secondary_calculations=[metrics.rolling(aggregate='average', interval=2)]",
        ),
        ErrorKind::InvalidArgument,
        &["aggregation is derived", "min, max, sum"],
    );
}

#[test]
fn period_to_date_period_must_not_be_finer_than_the_grain() {
    check(
        &calc(
            "metric('revenue'), grain='month', secondary_calculations=[metrics.period_to_date(aggregate='sum', period='week')]",
        ),
        ErrorKind::InvalidArgument,
        &["week", "finer than the grain month"],
    );
}

#[test]
fn secondary_calculation_arguments_are_checked() {
    check(
        &calc(
            "metric('revenue'), grain='month', secondary_calculations=[metrics.period_over_period(comparison_strategy='sum', interval=1)]",
        ),
        ErrorKind::InvalidArgument,
        &["comparison_strategy", "'sum'"],
    );
    check(
        &calc(
            "metric('revenue'), grain='month', secondary_calculations=[metrics.rolling(aggregate='sum', interval=0)]",
        ),
        ErrorKind::InvalidArgument,
        &["interval", "above zero"],
    );
    check(
        &calc("metric('revenue'), grain='month', secondary_calculations=[{'calculation': 'moving'}]"),
        ErrorKind::InvalidArgument,
        &["unknown secondary calculation 'moving'"],
    );
    check(
        &calc(
            "metric('revenue'), grain='month', secondary_calculations=[metrics.prior(interval=1, metric_list=['order_count'])]",
        ),
        ErrorKind::InvalidArgument,
        &["order_count", "metric_list"],
    );
}

#[test]
fn restrict_no_time_grain_and_windows_need_a_grain() {
    check(
        &calc("metric('strict_revenue')"),
        ErrorKind::InvalidArgument,
        &["strict_revenue has been configured to not allow non time-grain queries"],
    );
    check(
        &calc("metric('revenue_30d')"),
        ErrorKind::InvalidArgument,
        &["revenue_30d", "window"],
    );
    check(
        &calc("metric('all_time_orders'), grain='month'"),
        ErrorKind::InvalidArgument,
        &["all_time_orders", "no timestamp"],
    );
}

#[test]
fn removed_and_unknown_macros() {
    check(
        "{{ metrics.metric(metric_name='revenue', grain='month') }}",
        ErrorKind::InvalidArgument,
        &["metrics.metric", "metrics.calculate"],
    );
    check(
        &calc("metric('revenue'), grain='month', grian='day'"),
        ErrorKind::InvalidArgument,
        &["unexpected argument 'grian'"],
    );
}

#[test]
fn bad_dates_and_aliases() {
    check(
        &calc("metric('revenue'), grain='month', start_date='01/02/2022'"),
        ErrorKind::InvalidArgument,
        &["start_date", "YYYY-MM-DD"],
    );
    check(
        &calc("metric('revenue'), grain='month', date_alias='my date'"),
        ErrorKind::InvalidArgument,
        &["date_alias"],
    );
}

#[test]
fn missing_var_and_env_var() {
    check(
        "select '{{ var('nope') }}'",
        ErrorKind::InvalidArgument,
        &["Required var 'nope'"],
    );
    check(
        "select '{{ env_var('STRATA_SURELY_UNSET') }}'",
        ErrorKind::InvalidArgument,
        &["STRATA_SURELY_UNSET"],
    );
}

#[test]
fn develop_validates_its_metrics_like_project_metrics() {
    let sql = "{% set yml %}\nmetrics:\n  - name: bad\n    calculation_method: summ\n    expression: amount\n    model: ref('orders')\n{% endset %}\nselect * from {{ metrics.develop(develop_yml=yml, metric_list='bad') }}";
    check(sql, ErrorKind::InvalidDefinition, &["summ"]);
    let sql = "{% set yml %}\nmetrics:\n  - name: ok\n    calculation_method: sum\n    expression: amount\n    model: ref('nowhere')\n{% endset %}\nselect * from {{ metrics.develop(develop_yml=yml, metric_list='ok') }}";
    check(sql, ErrorKind::UnknownRelation, &["nowhere"]);
}

#[test]
fn errors_in_models_carry_file_and_line() {
    let dir = common::fixture("shop");
    let mut project = strata_manifest::load_project(&dir).unwrap();
    let mut model = project.models["orders"].clone();
    model.name = "broken".into();
    model.path = "models/broken.sql".into();
    model.raw_sql = "select 1\nfrom {{ metrics.calculate(metric('nope')) }}".into();
    project.models.insert("broken".into(), model);
    let c = strata_compile::Compiler::new(std::sync::Arc::new(project), Default::default());
    let e = c.compile_model("broken").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownMetric);
    let text = e.to_string();
    assert!(
        text.contains("Model 'model.shop.broken' (models/broken.sql) depends on a metric named 'nope'"),
        "{text}"
    );
    assert!(text.contains("models/broken.sql:2"), "{text}");
}
