//! PostgreSQL's functions with PostgreSQL's results, as DataFusion functions.
//!
//! DataFusion ships functions under PostgreSQL's names with other semantics (`to_char` takes
//! chrono patterns, `date_part('isodow')` counts from 0…). [`install`] registers this crate's
//! functions over them, so a statement a BI tool wrote for PostgreSQL gets PostgreSQL's answer.
//! Errors carry PostgreSQL's SQLSTATE in a [`FunctionError`].

mod aggregates;
mod arrays;
mod calendar;
mod chars;
mod convert;
mod date_comparisons;
mod datefmt;
mod datetime;
mod division;
pub mod error;
mod json;
mod moments;
mod numeric;
mod numfmt;
mod pgtype;
mod planner;
mod series;
mod strings;
mod sum;
mod sysinfo;
mod template;
mod types;
mod udf;
mod zone;

use std::sync::Arc;

use datafusion::catalog::TableFunction;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;

pub use division::has_computed_scale;
pub use error::FunctionError;
pub use json::{json_field, json_kind, JsonKind, CAST_JSON, CAST_JSONB};
pub use pgtype::{expr_pg_type, pg_type, PgType};
pub use types::pg_type_name;
pub use zone::{posix_offset_west, zone_name};

/// The engine's streaming integer `generate_series` table function, by the name the SQL front
/// end calls it (`meshgate_sqlfront` writes the same name).
pub const STREAMED_SERIES: &str = "meshgate_generate_series";

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = convert::functions();
    v.extend(arrays::functions());
    v.extend(datetime::functions());
    v.extend(calendar::functions());
    v.extend(numeric::functions());
    v.extend(division::functions());
    v.extend(series::functions());
    v.extend(strings::functions());
    v.extend(chars::functions());
    v.extend(sysinfo::functions());
    v.extend(json::functions());
    v
}

/// Adds this crate's functions to a session being built, after DataFusion's defaults
/// (`with_default_features`) so that ours replace DataFusion's of the same name.
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let functions = builder.scalar_functions().get_or_insert_with(Vec::new);
    // PostgreSQL's array_remove and array_replace act on every match: DataFusion's *_all.
    for (ours, theirs) in [
        ("array_remove", "array_remove_all"),
        ("array_replace", "array_replace_all"),
    ] {
        if let Some(all) = functions.iter().find(|f| f.name() == theirs).cloned() {
            functions.push(Arc::new(ScalarUDF::new_from_impl(udf::Renamed::new(
                ours, all,
            ))));
        }
    }
    functions.extend(scalar_functions());
    // The engine's streaming generate_series under a name of its own, for the SQL front end's
    // integer series in FROM (an endless one streams until cancelled); ours, by the public name,
    // builds a list the front end unnests, for every other type and place.
    if let Some(tables) = builder.table_functions().as_mut() {
        if let Some(series) = tables.get("generate_series").cloned() {
            tables.insert(
                STREAMED_SERIES.to_string(),
                Arc::new(TableFunction::new(
                    STREAMED_SERIES.to_string(),
                    series.function().clone(),
                )),
            );
        }
    }
    let aggregates = builder.aggregate_functions().get_or_insert_with(Vec::new);
    // PostgreSQL's names for DataFusion's aggregates of the same semantics.
    for (ours, theirs) in [("variance", "var"), ("every", "bool_and")] {
        if let Some(f) = aggregates.iter().find(|f| f.name() == theirs).cloned() {
            aggregates.push(Arc::new(f.as_ref().clone().with_aliases([ours])));
        }
    }
    if let Some(sum) = aggregates.iter().find(|f| f.name() == "sum").cloned() {
        aggregates.push(sum::over(sum));
    }
    // The last of a name is the one in force (`var` with PostgreSQL's alias `variance`).
    for (name, stat) in [
        ("avg", moments::Stat::Avg),
        ("var", moments::Stat::VarSamp),
        ("var_pop", moments::Stat::VarPop),
        ("stddev", moments::Stat::StddevSamp),
        ("stddev_pop", moments::Stat::StddevPop),
    ] {
        if let Some(f) = aggregates.iter().rev().find(|f| f.name() == name).cloned() {
            aggregates.extend(moments::over(f, stat));
        }
    }
    aggregates.extend(aggregates::functions());
    aggregates.extend(json::aggregate_functions());
    builder
        .table_functions()
        .get_or_insert_with(Default::default)
        .extend(json::table_functions());
    // Right after constant folding, before filters are pushed into scans.
    let rules = builder
        .optimizer_rules()
        .get_or_insert_with(|| datafusion::optimizer::Optimizer::new().rules);
    let at = rules
        .iter()
        .position(|r| r.name() == "simplify_expressions")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, date_comparisons::rule());
    // First, so that `extract` and `^` are planned here before DataFusion's planners.
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(planner::PgPlanner::new()));
    builder
}

#[cfg(test)]
mod sql_tests;
