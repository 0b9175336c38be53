//! System information functions: `pg_typeof`.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

use crate::types::pg_type_name;
use crate::udf::{text, wrong_types, RowFn, TEXT};

pub(crate) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![RowFn::new(
        "pg_typeof",
        |t| {
            if t.len() == 1 {
                Ok(t.to_vec())
            } else {
                Err(wrong_types("pg_typeof", t))
            }
        },
        // The answer depends only on the argument's type, known when planning.
        |types, _, _| {
            let _ = types;
            Ok(TEXT)
        },
        |args, _| Ok(text(pg_type_name(&args[0].data_type()))),
    )
    .lenient()
    .udf()]
}
