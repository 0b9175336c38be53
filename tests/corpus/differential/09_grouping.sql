-- GROUPING SETS, ROLLUP, CUBE.
SELECT l_returnflag, l_linestatus, count(*) FROM sales.lineitem GROUP BY ROLLUP (l_returnflag, l_linestatus) ORDER BY 1, 2;
SELECT l_returnflag, l_linestatus, count(*) FROM sales.lineitem GROUP BY CUBE (l_returnflag, l_linestatus) ORDER BY 1, 2;
SELECT l_returnflag, l_linestatus, count(*) FROM sales.lineitem GROUP BY GROUPING SETS ((l_returnflag), (l_linestatus), ()) ORDER BY 1, 2;
SELECT l_returnflag, grouping(l_returnflag), count(*) FROM sales.lineitem GROUP BY ROLLUP (l_returnflag) ORDER BY 1;
SELECT l_returnflag, l_linestatus, grouping(l_returnflag, l_linestatus), sum(l_quantity) FROM sales.lineitem GROUP BY CUBE (l_returnflag, l_linestatus) ORDER BY 3, 1, 2;
SELECT n_regionkey, count(*) FROM geo.nation GROUP BY ROLLUP (n_regionkey) ORDER BY n_regionkey NULLS FIRST;
SELECT coalesce(r_name, 'ALL') AS region, count(*) FROM geo.nation JOIN geo.region ON n_regionkey = r_regionkey GROUP BY ROLLUP (r_name) ORDER BY 1;
SELECT extract(year FROM o_orderdate) AS y, o_orderstatus, count(*) FROM sales.orders GROUP BY ROLLUP (1, 2) ORDER BY 1, 2;
SELECT o_orderstatus, o_orderpriority, count(*) FROM sales.orders GROUP BY GROUPING SETS ((o_orderstatus, o_orderpriority), (o_orderstatus)) ORDER BY 1, 2;
SELECT c_mktsegment, sum(c_acctbal) FROM sales.customer GROUP BY GROUPING SETS (c_mktsegment, ()) ORDER BY 1;
SELECT l_shipmode, count(*) FROM sales.lineitem GROUP BY l_shipmode, ROLLUP (l_returnflag) HAVING l_shipmode = 'AIR' ORDER BY 2;
SELECT o_orderstatus, count(*) FROM sales.orders GROUP BY CUBE (o_orderstatus) ORDER BY 1 NULLS LAST;
SELECT count(*) FROM sales.lineitem GROUP BY ();
SELECT l_linestatus, count(DISTINCT l_orderkey) FROM sales.lineitem GROUP BY ROLLUP (l_linestatus) ORDER BY 1;
SELECT grouping(o_orderstatus) AS g, count(*) FROM sales.orders GROUP BY ROLLUP (o_orderstatus) ORDER BY g, 2;
SELECT c_mktsegment, c_nationkey < 5 AS low, count(*) FROM sales.customer GROUP BY GROUPING SETS (c_mktsegment, c_nationkey < 5, ()) ORDER BY 1, 2;
