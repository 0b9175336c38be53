//! System information functions: `pg_typeof`.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

use crate::json::{json_kind, JsonFn, Ret};
use crate::types::pg_type_name;
use crate::udf::{text, wrong_types};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    // The answer depends only on the argument's field (a JSON type is known by its field).
    vec![JsonFn::new(
        "pg_typeof",
        |name, t| {
            if t.len() == 1 {
                Ok(t.to_vec())
            } else {
                Err(wrong_types(name, t))
            }
        },
        Ret::Text,
        |a| {
            let field = &a.fields[0];
            Ok(text(match json_kind(field) {
                Some(kind) => kind.name().to_string(),
                None => pg_type_name(field.data_type()),
            }))
        },
    )
    .lenient()
    .udf()]
}
