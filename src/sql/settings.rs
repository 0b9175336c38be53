//! `current_setting(name)` and `set_config(name, value, is_local)`: functions over the session's
//! settings, which live in the session rather than in DataFusion's function registry.
//! Calls with literal arguments are answered before planning (asyncpg saves and restores `jit`
//! this way around its type introspection). `set_config` takes effect when the statement is
//! planned, not when its row is produced: the same outcome for the single-row SELECTs clients
//! send it in.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value,
    ValueWithSpan,
};

use crate::error::{SqlState, UserError};

/// The session's settings, as these functions read and change them.
pub trait Settings: Send {
    fn get(&self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: &str) -> Result<(), UserError>;
}

fn literal(arg: &FunctionArg) -> Option<Value> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan { value, .. }))) = arg
    else {
        return None;
    };
    Some(value.clone())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::SingleQuotedString(s) => Some(s.clone()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Number(n, _) => Some(n.clone()),
        _ => None,
    }
}

fn text_literal(s: Option<String>) -> Expr {
    let v = match s {
        Some(s) => Value::SingleQuotedString(s),
        None => Value::Null,
    };
    // Typed as text, as PostgreSQL's functions return.
    Expr::Cast {
        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
        expr: Box::new(Expr::value(v)),
        data_type: datafusion::sql::sqlparser::ast::DataType::Text,
        array: false,
        format: None,
    }
}

/// Replaces literal-argument calls of the two functions by their results.
pub fn apply(stmt: &mut Statement, session: &mut dyn Settings) -> Result<(), UserError> {
    let flow = visit_expressions_mut(stmt, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_ascii_lowercase();
        let name = name
            .strip_prefix("pg_catalog.")
            .unwrap_or(&name)
            .to_string();
        if name != "current_setting" && name != "set_config" {
            return ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        let args: Option<Vec<Value>> = list.args.iter().map(literal).collect();
        let Some(args) = args else {
            return ControlFlow::Continue(());
        };
        let result = match (name.as_str(), args.as_slice()) {
            ("current_setting", [n]) | ("current_setting", [n, _]) => {
                let missing_ok = matches!(args.get(1), Some(Value::Boolean(true)));
                let Some(n) = text(n) else {
                    return ControlFlow::Continue(());
                };
                match session.get(&n) {
                    Some(v) => Some(v),
                    None if missing_ok => None,
                    None => {
                        return ControlFlow::Break(UserError::new(
                            SqlState::UndefinedObject,
                            format!("unrecognized configuration parameter \"{n}\""),
                        ))
                    }
                }
            }
            ("set_config", [n, v, _]) => {
                let (Some(n), Some(v)) = (text(n), text(v)) else {
                    return ControlFlow::Continue(());
                };
                if let Err(err) = session.set(&n, &v) {
                    return ControlFlow::Break(err);
                }
                session.get(&n)
            }
            _ => return ControlFlow::Continue(()),
        };
        *e = text_literal(result);
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}
