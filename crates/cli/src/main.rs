//! The `strata` command: demo, validate, compile, query, build, conformance.
//!
//! Each subcommand is a thin layer over the library crates; this is the only place that
//! reads the process environment, prints, and turns errors into exit codes.

mod output;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use strata_compile::{CompileOptions, Compiler, MetricQuery};
use strata_warehouse::{DuckDb, Postgres, Warehouse};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "An open, self-hosted semantic layer for dbt projects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

/// Where to run SQL: an embedded DuckDB file (the default) or a PostgreSQL server.
#[derive(clap::Args, Clone)]
struct WarehouseArgs {
    /// DuckDB database file [default: <PROJECT>/warehouse.duckdb].
    #[arg(long, value_name = "FILE")]
    duckdb: Option<PathBuf>,
    /// Use this PostgreSQL server instead, e.g. "host=localhost user=me dbname=analytics".
    #[arg(long, value_name = "CONNINFO", env = "STRATA_POSTGRES", conflicts_with = "duckdb")]
    postgres: Option<String>,
    /// Schema the project's models and seeds live in (default: the warehouse's default schema).
    #[arg(long)]
    schema: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the demo dbt project (a shop) and its DuckDB warehouse, build it, and run a query.
    Demo {
        /// Folder for the project and its warehouse.
        #[arg(long, default_value = "strata-demo")]
        dir: PathBuf,
        /// Data size: 1 is 10,000 orders; 1000 is 10 million.
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// Check a dbt project's definitions and models; print every problem.
    Validate {
        #[arg(default_value = ".")]
        project: PathBuf,
    },
    /// Print the warehouse SQL for dbt-SQL.
    Compile {
        /// dbt-SQL, e.g. "select * from {{ metrics.calculate(metric('revenue'), grain='month') }}".
        sql: Option<String>,
        /// Compile this model of the project instead.
        #[arg(long, conflicts_with = "sql")]
        model: Option<String>,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// duckdb, postgres, snowflake, bigquery, redshift or databricks.
        #[arg(long, default_value = "duckdb")]
        dialect: String,
        #[arg(long)]
        schema: Option<String>,
    },
    /// Query metrics (or run dbt-SQL) and print the result.
    Query {
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// Comma-separated metric names.
        #[arg(long, value_delimiter = ',', required_unless_present = "sql")]
        metrics: Vec<String>,
        /// day, week, month, quarter, year (or a custom calendar's grain); none groups by dimensions only.
        #[arg(long)]
        grain: Option<String>,
        #[arg(long, value_delimiter = ',')]
        dimensions: Vec<String>,
        /// Inclusive, YYYY-MM-DD.
        #[arg(long)]
        start_date: Option<String>,
        /// Inclusive, YYYY-MM-DD.
        #[arg(long)]
        end_date: Option<String>,
        /// A SQL condition on the output columns.
        #[arg(long = "where")]
        where_clause: Option<String>,
        /// dbt-SQL to run instead of --metrics.
        #[arg(long, conflicts_with = "metrics")]
        sql: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        warehouse: WarehouseArgs,
    },
    /// Load seeds and build models into the warehouse, in dependency order.
    Build {
        #[arg(default_value = ".")]
        project: PathBuf,
        #[command(flatten)]
        warehouse: WarehouseArgs,
    },
    /// Run the SQL proxy: PostgreSQL clients connect and query metrics. With no configuration,
    /// serves the demo project (generated on first use) as environment `demo`.
    Serve {
        /// Configuration file (TOML); every key can also be set as STRATA__SECTION__KEY.
        #[arg(long, env = "STRATA_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address and port to listen on [default: 127.0.0.1:5433].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Folder of the zero-configuration demo.
        #[arg(long, default_value = "strata-demo")]
        demo_dir: PathBuf,
    },
    /// Print the SCRAM-SHA-256 hash of a password, for `password_hash` in the configuration.
    HashPassword {
        /// The password (read from standard input when absent).
        password: Option<String>,
    },
    /// Run conformance cases (folders with case.json) and report "N passed, M failed".
    Conformance {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Run on this PostgreSQL server (each case in a fresh schema) instead of DuckDB.
        #[arg(long, value_name = "CONNINFO")]
        postgres: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Demo { dir, scale } => demo(&dir, scale),
        Command::Validate { project } => validate(&project),
        Command::Compile {
            sql,
            model,
            project,
            dialect,
            schema,
        } => {
            let dialect = strata_compile::dialect_named(&dialect).with_context(|| {
                format!(
                    "unknown dialect '{dialect}' (expected one of {})",
                    strata_compile::DIALECTS.join(", ")
                )
            })?;
            let compiler = compiler(&project, dialect, schema)?;
            let compiled = match (sql, model) {
                (Some(sql), _) => compiler.compile(&sql)?,
                (None, Some(model)) => compiler.compile_model(&model)?,
                (None, None) => bail!("give dbt-SQL to compile, or --model NAME"),
            };
            println!("{}", compiled.sql.trim());
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            project,
            metrics,
            grain,
            dimensions,
            start_date,
            end_date,
            where_clause,
            sql,
            format,
            warehouse,
        } => {
            let mut wh = open_warehouse(&project, &warehouse)?;
            let dialect = strata_compile::dialect_named(wh.kind()).unwrap_or(&strata_compile::DuckDb);
            let compiler = compiler(&project, dialect, warehouse.schema.clone())?;
            let compiled = match sql {
                Some(sql) => compiler.compile(&sql)?,
                None => compiler.compile_query(&MetricQuery {
                    metrics,
                    grain,
                    dimensions,
                    start_date,
                    end_date,
                    where_clause,
                    ..MetricQuery::default()
                })?,
            };
            let result = wh
                .query(&compiled.sql)
                .map_err(|e| anyhow::anyhow!("the warehouse: {e}"))?;
            output::print(&result, format);
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { project, warehouse } => {
            let mut wh = open_warehouse(&project, &warehouse)?;
            let dialect = strata_compile::dialect_named(wh.kind()).unwrap_or(&strata_compile::DuckDb);
            let compiler = compiler(&project, dialect, warehouse.schema.clone())?;
            let report = strata_materialize::build(&compiler, wh.as_mut())?;
            for (seed, rows) in &report.seeds {
                println!("seed  {seed} ({rows} rows)");
            }
            for (model, how) in &report.models {
                println!("model {model} ({how:?})");
            }
            println!("built {} seeds and {} models", report.seeds.len(), report.models.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { dirs, postgres } => conformance(&dirs, postgres.as_deref()),
        Command::Serve {
            config,
            listen,
            demo_dir,
        } => serve(config.as_deref(), listen, &demo_dir),
        Command::HashPassword { password } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if password.is_empty() {
                bail!("the password is empty");
            }
            println!("{}", strata_proxy::Verifier::new(&password));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_project(path: &Path) -> Result<Arc<strata_manifest::Project>> {
    strata_manifest::load_project(path)
        .map(Arc::new)
        .map_err(|d| anyhow::anyhow!("{} has problems:\n{d}", path.display()))
}

fn compiler(project: &Path, dialect: &'static dyn strata_compile::Dialect, schema: Option<String>) -> Result<Compiler> {
    let project = load_project(project)?;
    let options = CompileOptions {
        dialect,
        target_schema: schema,
        target_name: "default".into(),
        env_vars: std::env::vars().collect(),
    };
    Ok(Compiler::new(project, options))
}

fn open_warehouse(project: &Path, args: &WarehouseArgs) -> Result<Box<dyn Warehouse>> {
    if let Some(conninfo) = &args.postgres {
        return Ok(Box::new(
            Postgres::connect(conninfo).map_err(|e| anyhow::anyhow!("PostgreSQL: {e}"))?,
        ));
    }
    let path = args.duckdb.clone().unwrap_or_else(|| project.join("warehouse.duckdb"));
    Ok(Box::new(
        DuckDb::open(&path).map_err(|e| anyhow::anyhow!("DuckDB file {}: {e}", path.display()))?,
    ))
}

fn validate(path: &Path) -> Result<ExitCode> {
    let project = match strata_manifest::load_project(path) {
        Ok(p) => Arc::new(p),
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                println!("{d}");
            }
            println!("{} problem(s) found", diagnostics.0.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let compiler = Compiler::new(project.clone(), CompileOptions::default());
    let mut problems = 0;
    for name in project.models.keys() {
        if let Err(e) = compiler.compile_model(name) {
            println!("{e}");
            problems += 1;
        }
    }
    if problems > 0 {
        println!("{problems} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{}: {} models, {} seeds, {} sources, {} metrics: no problems found",
        project.name,
        project.models.len(),
        project.seeds.len(),
        project.sources.len(),
        project.metrics.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn demo(dir: &Path, scale: u32) -> Result<ExitCode> {
    if scale == 0 {
        bail!("--scale must be 1 or more");
    }
    let started = std::time::Instant::now();
    let db = strata_server::build_demo(dir, scale).map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "generated the demo data and built its models into {} in {:.1?}",
        db.display(),
        started.elapsed()
    );
    let mut wh = DuckDb::open(&db).map_err(|e| anyhow::anyhow!("DuckDB file {}: {e}", db.display()))?;
    let compiler = compiler(dir, &strata_compile::DuckDb, None)?;
    let sql = "select * from {{ metrics.calculate([metric('revenue'), metric('order_count')], grain='year', dimensions=['status']) }}";
    println!("\n{sql}\n");
    let compiled = compiler.compile(sql)?;
    let result = wh.query(&compiled.sql).map_err(|e| anyhow::anyhow!("{e}"))?;
    output::print(&result, Format::Table);
    let exe = "strata";
    println!(
        "\nTry next:\n  {exe} serve      (then: psql \"host=localhost port=5433 dbname=demo user=strata\", password strata)\n  {exe} query --project {d} --metrics revenue,average_order_value --grain month --dimensions country\n  {exe} compile --project {d} \"select * from {{{{ metrics.calculate(metric('revenue'), grain='month') }}}}\"\n  {exe} validate {d}",
        d = dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn conformance(dirs: &[PathBuf], postgres: Option<&str>) -> Result<ExitCode> {
    let mut cases = Vec::new();
    for d in dirs {
        let found = strata_materialize::conformance::find_cases(d);
        if found.is_empty() {
            bail!("no conformance cases (folders with case.json) in {}", d.display());
        }
        cases.extend(found);
    }
    let (mut passed, mut failed) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let outcome = match postgres {
            Some(conninfo) => {
                let mut pg = Postgres::connect(conninfo).map_err(|e| anyhow::anyhow!("PostgreSQL: {e}"))?;
                let schema = format!("strata_case_{i}");
                pg.execute(&format!(
                    "drop schema if exists {schema} cascade; create schema {schema}"
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                let o = strata_materialize::conformance::run_case(case, &mut pg, Some(&schema));
                let _ = pg.execute(&format!("drop schema if exists {schema} cascade"));
                o
            }
            None => {
                let mut duck = DuckDb::in_memory().map_err(|e| anyhow::anyhow!("{e}"))?;
                strata_materialize::conformance::run_case(case, &mut duck, None)
            }
        };
        if outcome.passed {
            passed += 1;
        } else {
            failed += 1;
            println!("FAIL {}: {}", outcome.name, outcome.detail);
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn serve(config_file: Option<&Path>, listen: Option<String>, demo_dir: &Path) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut config = strata_server::config::load(config_file, std::env::vars()).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let demo = config.environments.is_empty();
    if demo {
        config = strata_server::demo_config(config, demo_dir).map_err(|e| anyhow::anyhow!(e))?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = strata_server::Server::bind(&config).await.map_err(|e| anyhow::anyhow!(e))?;
        let addr = server.local_addr;
        println!("Strata SQL proxy listening on {addr}");
        for line in &server.summary {
            println!("  environment {line}");
        }
        if demo {
            println!(
                "\nConnect with:\n  psql \"host={} port={} dbname={} user={}\"   (password: {})\nthen:\n  select * from {{{{ metrics.calculate(metric('revenue'), grain='month') }}}};",
                addr.ip(),
                addr.port(),
                strata_server::DEMO_SLUG,
                strata_server::DEMO_USER,
                strata_server::DEMO_PASSWORD
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        server.run(strata_server::termination()).await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
