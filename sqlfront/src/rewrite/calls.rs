//! Calls with PostgreSQL's named arguments (`make_interval(days => 3)`): the engine's functions
//! take positions only, so named arguments are put in their places, and the ones left out get
//! the parameter's default. Constant arguments PostgreSQL refuses whatever the rows are
//! (`nth_value(x, 0)`) are refused before planning.

use sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments};

use crate::build;
use crate::error::{Code, FrontError};

/// `nth_value(x, n)` with a constant n below 1: PostgreSQL's 22016 (the engine answers NULLs).
pub(super) fn invalid_constant_argument(e: &Expr) -> Option<FrontError> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    if name != "nth_value" {
        return None;
    }
    let FunctionArguments::List(args) = &f.args else {
        return None;
    };
    let n = match args.args.get(1)? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(n)) => n,
        _ => return None,
    };
    let value: i64 = match n {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) => n.parse().ok()?,
            _ => return None,
        },
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                sqlparser::ast::Value::Number(n, _) => -n.parse::<i64>().ok()?,
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    };
    (value < 1).then(|| {
        FrontError::new(
            Code::InvalidArgumentForNthValue,
            "argument of nth_value must be greater than zero",
        )
    })
}

fn zero() -> Expr {
    build::number(0)
}

fn zero_float() -> Expr {
    build::cast(build::number(0), sqlparser::ast::DataType::DoublePrecision)
}

/// A parameter's name and its default value.
type Parameter = (&'static str, fn() -> Expr);

/// Each function's parameters in order, with the default of each (as PostgreSQL declares them).
fn parameters(function: &str) -> Option<&'static [Parameter]> {
    Some(match function {
        "make_interval" => &[
            ("years", zero),
            ("months", zero),
            ("weeks", zero),
            ("days", zero),
            ("hours", zero),
            ("mins", zero),
            ("secs", zero_float),
        ],
        _ => return None,
    })
}

/// The call with its named arguments in their places; unchanged when it has none, when the
/// function is not one of these, or when a name is unknown (the engine then reports it).
pub(super) fn named_arguments(f: &mut Function) {
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if !list
        .args
        .iter()
        .any(|a| matches!(a, FunctionArg::Named { .. } | FunctionArg::ExprNamed { .. }))
    {
        return;
    }
    let name = f.name.to_string().to_ascii_lowercase();
    let Some(params) = parameters(&name) else {
        return;
    };
    let mut slots: Vec<Option<Expr>> = vec![None; params.len()];
    for (i, a) in list.args.iter().enumerate() {
        let (slot, value) = match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (i, e),
            // PostgreSQL's parser gives `name => value` with the name as an expression.
            FunctionArg::Named {
                name,
                arg: FunctionArgExpr::Expr(e),
                ..
            }
            | FunctionArg::ExprNamed {
                name: Expr::Identifier(name),
                arg: FunctionArgExpr::Expr(e),
                ..
            } => match params
                .iter()
                .position(|(p, _)| name.value.eq_ignore_ascii_case(p))
            {
                Some(slot) => (slot, e),
                None => return,
            },
            _ => return,
        };
        match slots.get_mut(slot) {
            Some(s @ None) => *s = Some(value.clone()),
            _ => return,
        }
    }
    let last = slots.iter().rposition(Option::is_some).unwrap_or(0);
    list.args = slots
        .into_iter()
        .zip(params)
        .take(last + 1)
        .map(|(v, (_, default))| {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(v.unwrap_or_else(default)))
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::{SelectItem, SetExpr, Statement};

    #[test]
    fn named_arguments_take_their_places() {
        let mut stmt = super::super::parsed("SELECT make_interval(hours => 2, days => 3)");
        let Statement::Query(q) = &mut stmt else {
            panic!("a query")
        };
        let SetExpr::Select(s) = q.body.as_mut() else {
            panic!("a select")
        };
        let SelectItem::UnnamedExpr(Expr::Function(f)) = &mut s.projection[0] else {
            panic!("a call")
        };
        named_arguments(f);
        assert_eq!(f.to_string(), "make_interval(0, 0, 0, 3, 2)");
    }
}
