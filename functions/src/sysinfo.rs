//! System information functions: `pg_typeof`.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

use crate::json::{JsonFn, Ret};
use crate::pgtype::pg_type;
use crate::types::pg_type_name;
use crate::udf::{text, wrong_types};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    // The answer depends only on the argument's field (a type held as text is known by its
    // field).
    vec![JsonFn::new(
        "pg_typeof",
        |name, t| {
            if t.len() == 1 {
                Ok(t.to_vec())
            } else {
                Err(wrong_types(name, t))
            }
        },
        Ret::Regtype,
        |a| {
            let field = &a.fields[0];
            Ok(text(match pg_type(field) {
                Some(t) => t.typeof_name().to_string(),
                None => pg_type_name(field.data_type()),
            }))
        },
    )
    .lenient()
    .udf()]
}
