//! UNION ALL answers its branches in the order the statement lists them, as PostgreSQL's
//! Append does (a report's total row stays where the statement put it), whichever branch is
//! ready first.

use crate::harness::{rows, TestServer};
use crate::reference::reference;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn union_all_answers_its_branches_in_order() {
    let s = TestServer::tpch().await;
    let gate = s.admin().await;
    let pg = reference().connect().await;
    let statements = [
        // Literal branches around a scan: the literals are ready long before the scan.
        "SELECT 'first' AS t UNION ALL \
         (SELECT n_name FROM geo.nation WHERE n_nationkey < 3 ORDER BY n_name) \
         UNION ALL SELECT 'last'",
        // Aggregates over tables of very different sizes: the small ones finish first.
        "SELECT 'lineitem' AS t, count(*) AS n FROM sales.lineitem UNION ALL \
         SELECT 'orders', count(*) FROM sales.orders UNION ALL \
         SELECT 'nation', count(*) FROM geo.nation",
        // A total before its details, as reports write it.
        "SELECT 'total' AS flag, sum(l_quantity) AS q FROM sales.lineitem UNION ALL \
         (SELECT l_returnflag, sum(l_quantity) FROM sales.lineitem \
          GROUP BY l_returnflag ORDER BY l_returnflag)",
    ];
    for sql in statements {
        let want = rows(&pg, sql).await;
        assert!(want.len() >= 3, "the reference answers: {sql}");
        // Each run may finish its branches in another order; every answer must be in theirs.
        for run in 0..5 {
            assert_eq!(rows(&gate, sql).await, want, "run {run} of {sql}");
        }
    }
}
