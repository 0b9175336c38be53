// pgjdbc (the PostgreSQL JDBC driver Metabase, Tableau and DBeaver use) against meshgate over the
// TPC-H mesh: SCRAM login, plain and server-prepared statements, result metadata, row-limited
// portals, cancellation, the DatabaseMetaData calls BI tools browse with, and access policies.
//
// Run with the JDK's source launcher, parameters as in the Python suites:
//   java -cp /usr/share/java/postgresql.jar tests/clients/PgjdbcSuite.java '<json>'
// Exits non-zero at the first failed check.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

public class PgjdbcSuite {
    // Every pair of line items: 3.6 billion at the fixture's scale factor 0.01, about three
    // minutes in a debug build when nothing stops it. Its count can only come back if
    // cancellation failed, which the checks then report.
    static final String LONG_QUERY =
        "SELECT count(*) FROM sales.lineitem a CROSS JOIN sales.lineitem b WHERE a.l_quantity + b.l_quantity > 0";

    static int checks = 0;

    static void fail(String what, String detail) {
        System.err.println("pgjdbc: " + what + ": " + detail);
        System.exit(1);
    }

    static void eq(String what, Object got, Object want) {
        checks++;
        if (!Objects.equals(got, want)) {
            fail(what, "expected " + show(want) + ", got " + show(got));
        }
        System.out.println("ok " + checks + " - " + what);
    }

    static void check(String what, boolean cond, Object detail) {
        checks++;
        if (!cond) {
            fail(what, "check failed " + show(detail));
        }
        System.out.println("ok " + checks + " - " + what);
    }

    static String show(Object o) {
        if (o == null) return "null";
        if (o instanceof String) return "'" + o + "'";
        return o + " (" + o.getClass().getSimpleName() + ")";
    }

    interface SqlAction {
        void run() throws Exception;
    }

    // The SQLSTATE `action` fails with, or null when it succeeds.
    static String sqlState(SqlAction action) throws Exception {
        try {
            action.run();
            return null;
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            fail("usage", "PgjdbcSuite '<connection parameters as JSON>'");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) new Json(args[0]).parse();
        String url = "jdbc:postgresql://" + p.get("host") + ":" + p.get("port") + "/" + p.get("dbname");
        @SuppressWarnings("unchecked")
        Map<String, Object> descriptions = (Map<String, Object>) p.get("descriptions");

        check("wrong password refused with 28P01",
            "28P01".equals(sqlState(() -> connect(url, (String) p.get("user"), "not-the-password").close())), "");

        try (Connection c = connect(url, (String) p.get("user"), (String) p.get("password"))) {
            session(c, (String) p.get("user"));
            connectionSettings(c);
            prepared(c);
            numericsInBinary(c);
            resultMetadata(c);
            streaming(c);
            cancellation(c);
            catalog(c, descriptions);
            timeTravel(c);
        }
        try (Connection admin = connect(url, (String) p.get("admin_user"), (String) p.get("admin_password"));
             Connection dave = connect(url, (String) p.get("sales_analyst_user"), (String) p.get("sales_analyst_password"));
             Connection carol = connect(url, (String) p.get("regional_user"), (String) p.get("regional_password"))) {
            policies(admin, dave, carol);
        }
        System.out.println("pgjdbc: " + checks + " checks passed");
    }

    static Connection connect(String url, String user, String password) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("ApplicationName", "pgjdbc suite");
        return DriverManager.getConnection(url, props);
    }

    static void session(Connection c, String user) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("select version()")) {
            check("select version()", rs.next() && rs.getString(1).startsWith("PostgreSQL "), rs.getString(1));
        }
        String serverVersion = c.unwrap(org.postgresql.PGConnection.class).getParameterStatus("server_version");
        check("server_version parameter reported", serverVersion != null && serverVersion.matches("\\d+\\.\\d+.*"), serverVersion);
        DatabaseMetaData md = c.getMetaData();
        eq("major version from server_version", md.getDatabaseMajorVersion(), Integer.parseInt(serverVersion.split("\\.")[0]));
        check("a PostgreSQL version pgjdbc takes its modern paths for", md.getDatabaseMajorVersion() >= 12, serverVersion);
        eq("product name", md.getDatabaseProductName(), "PostgreSQL");
        eq("connected user", md.getUserName(), user);
    }

    static long count(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    // Time travel: setTransactionIsolation(REPEATABLE_READ) pins a transaction to one snapshot
    // of the mesh, mesh.as_of a whole session. The demo creates sales.customer empty (version 0)
    // and writes its rows as version 1.
    static void timeTravel(Connection c) throws Exception {
        String created;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                "SELECT committed_at::text FROM mesh.history WHERE product = 'sales' AND table_name = 'customer' AND version = 0")) {
            check("mesh.history lists the table's first version", rs.next(), "");
            created = rs.getString(1);
        }
        long now;
        try (Statement st = c.createStatement()) {
            now = count(st, "SELECT count(*) FROM sales.customer");
        }
        c.setAutoCommit(false);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        try (Statement st = c.createStatement()) {
            eq("a REPEATABLE READ transaction reads the mesh as of its first statement", count(st, "SELECT count(*) FROM sales.customer"), now);
            eq("FOR VERSION AS OF in it", count(st, "SELECT count(*) FROM sales.customer FOR VERSION AS OF 0"), 0L);
            eq("a write inside it is refused as read-only", sqlState(() -> st.execute("CREATE TABLE sales.copy AS SELECT 1 AS x")), "25006");
        }
        c.rollback();
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        c.setAutoCommit(true);
        try (Statement st = c.createStatement()) {
            st.execute("SET mesh.as_of = '" + created + "'");
            eq("SET mesh.as_of: the table as it was created", count(st, "SELECT count(*) FROM sales.customer"), 0L);
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM sales.customer WHERE c_custkey > ?")) {
                ps.setInt(1, 0);
                try (ResultSet rs = ps.executeQuery()) {
                    eq("SET mesh.as_of: a prepared statement too", rs.next() ? rs.getLong(1) : -1L, 0L);
                }
            }
            st.execute("RESET mesh.as_of");
            eq("RESET mesh.as_of: the newest version again", count(st, "SELECT count(*) FROM sales.customer"), now);
        }
    }

    // What connection pools and BI tools do to a connection before using it.
    static void connectionSettings(Connection c) throws Exception {
        check("isValid() (pools send an empty query)", c.isValid(5), "");
        c.setReadOnly(true);
        check("setReadOnly(true)", c.isReadOnly(), "");
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        eq("getTransactionIsolation() after setTransactionIsolation()", c.getTransactionIsolation(), Connection.TRANSACTION_REPEATABLE_READ);
        c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        c.setSchema("sales");
        eq("getSchema() after setSchema()", c.getSchema(), "sales");
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM orders")) {
            check("unqualified names resolve in the schema set", rs.next() && rs.getLong(1) > 0, "");
        }
        c.setSchema("public");
        try (Statement st = c.createStatement()) {
            check("two statements in one execute(): first result", st.execute("SELECT 1 AS a; SELECT 'two' AS b"), "");
            try (ResultSet rs = st.getResultSet()) {
                eq("first result set", rs.next() ? rs.getInt(1) : null, 1);
            }
            check("two statements in one execute(): second result", st.getMoreResults(), "");
            try (ResultSet rs = st.getResultSet()) {
                eq("second result set", rs.next() ? rs.getString(1) : null, "two");
            }
            check("no third result", !st.getMoreResults() && st.getUpdateCount() == -1, "");
            st.setMaxRows(10);
            eq("setMaxRows(10) limits the rows", count(st.executeQuery("SELECT l_orderkey FROM sales.lineitem")), 10);
        }
    }

    // Numerics and doubles whose binary encodings have edge cases (zero, negative, scale
    // padding, more than four digits per group), from the fifth execution on in binary.
    static void numericsInBinary(Connection c) throws Exception {
        String[] values = {"0.0000", "-0.0500", "12345678901234.5678", "1.0000", "-99999999999999.9999", "0.0001", "10000.0000"};
        List<String> wrong = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT CAST(? AS numeric(18,4)) AS n, CAST(? AS double precision) AS d, CAST(? AS smallint) AS s")) {
            for (int run = 0; run < 3; run++) {
                for (String v : values) {
                    BigDecimal n = new BigDecimal(v);
                    double d = n.doubleValue() / 3;
                    ps.setBigDecimal(1, n);
                    ps.setDouble(2, d);
                    ps.setShort(3, (short) (run - 1));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        List<Object> got = List.of(rs.getBigDecimal(1), rs.getDouble(2), rs.getShort(3));
                        List<Object> want = List.of(n, d, (short) (run - 1));
                        if (!got.equals(want)) wrong.add(got + " instead of " + want);
                    }
                }
            }
            check("numeric statement ended server-prepared", ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), "");
        }
        eq("numeric, double and smallint values round-trip, text and binary", wrong, List.of());
        try (PreparedStatement ps = c.prepareStatement("SELECT sum(l_extendedprice) FROM sales.lineitem WHERE l_orderkey < ?");
             Statement st = c.createStatement()) {
            BigDecimal literal;
            try (ResultSet rs = st.executeQuery("SELECT sum(l_extendedprice) FROM sales.lineitem WHERE l_orderkey < 1000")) {
                rs.next();
                literal = rs.getBigDecimal(1);
            }
            List<BigDecimal> sums = new ArrayList<>();
            for (int run = 0; run < 7; run++) {
                ps.setLong(1, 1000);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    sums.add(rs.getBigDecimal(1));
                }
            }
            check("a numeric aggregate is the same in text and binary", sums.stream().allMatch(literal::equals), sums + " vs " + literal);
        }
    }

    static void prepared(Connection c) throws Exception {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT n_name, n_regionkey FROM geo.nation WHERE n_nationkey = 7")) {
            check("Statement query", rs.next(), "no row");
            eq("Statement text column", rs.getString(1), "GERMANY");
            eq("Statement bigint column", rs.getLong(2), 3L);
        }

        // Every type a BI tool binds, sent back through the server (pgjdbc leaves dates and
        // timestamps untyped, with a time zone offset the server must ignore). From the fifth
        // execution on, pgjdbc uses a named server-side statement and asks for binary results.
        String echo = "SELECT CAST(? AS integer) AS i, CAST(? AS bigint) AS b, CAST(? AS text) AS t, "
            + "CAST(? AS numeric(15,2)) AS n, CAST(? AS date) AS d, CAST(? AS timestamp) AS ts, CAST(? AS boolean) AS f";
        try (PreparedStatement ps = c.prepareStatement(echo)) {
            List<String> wrong = new ArrayList<>();
            for (int run = 0; run < 8; run++) {
                int i = 1000 + run;
                long b = 5_000_000_000L + run;
                String t = "text ü " + run;
                BigDecimal n = new BigDecimal("12345.6" + run);
                Date d = Date.valueOf(LocalDate.of(1995, 3, 1 + run));
                Timestamp ts = Timestamp.valueOf(LocalDateTime.of(1996, 7, 2, 13, 14, 15 + run, 250_000_000));
                boolean f = run % 2 == 0;
                ps.setInt(1, i);
                ps.setLong(2, b);
                ps.setString(3, t);
                ps.setBigDecimal(4, n);
                ps.setDate(5, d);
                ps.setTimestamp(6, ts);
                ps.setBoolean(7, f);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    List<Object> got = List.of(rs.getInt(1), rs.getLong(2), rs.getString(3), rs.getBigDecimal(4), rs.getDate(5), rs.getTimestamp(6), rs.getBoolean(7));
                    List<Object> want = List.of(i, b, t, n, d, ts, f);
                    if (!got.equals(want)) {
                        wrong.add("run " + run + ": " + got + " instead of " + want);
                    }
                }
            }
            eq("parameters of every type round-trip over 8 executions", wrong, List.of());
            check("pgjdbc switched to a named server-side statement",
                ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), "still unnamed");
        }

        // Parameters that filter a scan: the same counts as the statement with literals.
        String filter = "SELECT count(*) FROM sales.orders WHERE o_orderkey > ? AND o_custkey > ? AND o_orderstatus = ? "
            + "AND o_totalprice > ? AND o_orderdate >= ? AND CAST(o_orderdate AS timestamp) < ? AND (o_shippriority = 0) = ?";
        try (PreparedStatement ps = c.prepareStatement(filter); Statement st = c.createStatement()) {
            String[] statuses = {"F", "O", "P"};
            List<String> wrong = new ArrayList<>();
            long total = 0;
            for (int run = 0; run < 7; run++) {
                int key = 100 * run;
                long cust = 10L * run;
                String status = statuses[run % 3];
                BigDecimal price = new BigDecimal(1000 * run + ".50");
                LocalDate from = LocalDate.of(1992 + run % 4, 1, 1);
                LocalDateTime to = LocalDateTime.of(1996 + run % 3, 6, 30, 12, 0);
                ps.setInt(1, key);
                ps.setLong(2, cust);
                ps.setString(3, status);
                ps.setBigDecimal(4, price);
                ps.setObject(5, from);
                ps.setObject(6, to);
                ps.setBoolean(7, true);
                long bound;
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    bound = rs.getLong(1);
                }
                String literal = "SELECT count(*) FROM sales.orders WHERE o_orderkey > " + key + " AND o_custkey > " + cust
                    + " AND o_orderstatus = '" + status + "' AND o_totalprice > " + price + " AND o_orderdate >= DATE '" + from
                    + "' AND CAST(o_orderdate AS timestamp) < TIMESTAMP '" + Timestamp.valueOf(to) + "' AND (o_shippriority = 0) = true";
                try (ResultSet rs = st.executeQuery(literal)) {
                    rs.next();
                    if (rs.getLong(1) != bound) {
                        wrong.add("run " + run + ": bound " + bound + ", literal " + rs.getLong(1));
                    }
                }
                total += bound;
            }
            eq("bound filters count as literal ones over 7 executions", wrong, List.of());
            check("the filters keep rows", total > 0, total);
        }
    }

    static void resultMetadata(Connection c) throws Exception {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT o_orderkey, o_totalprice, o_orderdate, o_orderstatus, o_shippriority FROM sales.orders LIMIT 1")) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> names = new ArrayList<>();
            List<Integer> types = new ArrayList<>();
            List<String> typeNames = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                names.add(md.getColumnName(i));
                types.add(md.getColumnType(i));
                typeNames.add(md.getColumnTypeName(i));
            }
            eq("result column names", names, List.of("o_orderkey", "o_totalprice", "o_orderdate", "o_orderstatus", "o_shippriority"));
            eq("result column java.sql.Types", types, List.of(Types.BIGINT, Types.NUMERIC, Types.DATE, Types.VARCHAR, Types.INTEGER));
            eq("result column type names", typeNames, List.of("int8", "numeric", "date", "text", "int4"));
            eq("numeric precision and scale", List.of(md.getPrecision(2), md.getScale(2)), List.of(15, 2));
            eq("numeric column class", md.getColumnClassName(2), "java.math.BigDecimal");
            check("a row", rs.next(), "none");
            eq("numeric value keeps its scale", rs.getBigDecimal(2).scale(), 2);
        }
    }

    static void streaming(Connection c) throws Exception {
        long expected;
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM sales.lineitem")) {
            rs.next();
            expected = rs.getLong(1);
        }
        c.setAutoCommit(false);
        try (Statement st = c.createStatement()) {
            st.setFetchSize(100);
            long n = 0;
            long keys = 0;
            try (ResultSet rs = st.executeQuery("SELECT l_orderkey, l_linenumber FROM sales.lineitem")) {
                check("first row", rs.next(), "none");
                // pgjdbc holds what one Execute returned: with fetchSize 100 it asks for 100 rows
                // at a time, and the portal must suspend after them instead of sending all.
                check("one fetch holds at most 100 rows (portal suspended)", bufferedRows(rs) <= 100, bufferedRows(rs));
                do {
                    n++;
                    keys += rs.getLong(1);
                } while (rs.next());
            }
            eq("rows streamed in fetches of 100 = count(*)", n, expected);
            try (ResultSet rs = st.executeQuery("SELECT sum(l_orderkey) FROM sales.lineitem")) {
                rs.next();
                eq("streamed rows are the table's rows (key sum)", keys, rs.getLong(1));
            }
        }
        c.commit();
        c.setAutoCommit(true);
    }

    // Rows pgjdbc buffered for a result set: its field `rows` (no public API tells; the driver
    // is on the class path, so reflection may read it).
    static int bufferedRows(ResultSet rs) throws Exception {
        Object impl = rs.unwrap(org.postgresql.jdbc.PgResultSet.class);
        java.lang.reflect.Field f = org.postgresql.jdbc.PgResultSet.class.getDeclaredField("rows");
        f.setAccessible(true);
        return ((List<?>) f.get(impl)).size();
    }

    static void cancellation(Connection c) throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Statement st = c.createStatement()) {
            Future<String> running = pool.submit(() -> {
                try (ResultSet rs = st.executeQuery(LONG_QUERY)) {
                    rs.next();
                    return "completed with " + rs.getLong(1);
                } catch (SQLException e) {
                    return e.getSQLState();
                }
            });
            // A CancelRequest that arrives before the statement reached the server is dropped
            // (as in PostgreSQL), and Statement.cancel() sends one per execution (later calls
            // are no-ops in pgjdbc), so after it the same CancelRequest is sent again through
            // the connection until the statement ends; the server's limiter allows this rate.
            org.postgresql.core.BaseConnection base = c.unwrap(org.postgresql.core.BaseConnection.class);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            String outcome = null;
            boolean first = true;
            while (outcome == null && System.nanoTime() < deadline) {
                if (first) {
                    st.cancel();
                    first = false;
                } else {
                    base.cancelQuery();
                }
                try {
                    outcome = running.get(200, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    // still running: cancel again
                }
            }
            eq("Statement.cancel() from another thread ends the query with 57014", outcome, "57014");
        } finally {
            pool.shutdownNow();
        }
        long afterCancel = System.nanoTime();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM geo.region")) {
            rs.next();
            eq("the connection works after the cancel", rs.getLong(1), 5L);
        }
        // The cancelled join must have let go of the engine: the next statement does not wait
        // for it (it would run for minutes).
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - afterCancel);
        check("the next statement does not wait for the cancelled one", waited < 20_000, waited + " ms");
        try (Statement st = c.createStatement()) {
            st.setQueryTimeout(1);
            long start = System.nanoTime();
            String state = sqlState(() -> st.executeQuery(LONG_QUERY).close());
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            eq("setQueryTimeout(1) ends the query with 57014", state, "57014");
            check("the timeout, not something else, ended it (after about 1 s)", ms >= 900 && ms < 30_000, ms + " ms");
        }
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
            check("the connection works after the timeout", rs.next() && rs.getInt(1) == 1, "");
        }
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        try (rs) {
            while (rs.next()) {
                out.add(rs.getString(name));
            }
        }
        return out;
    }

    static int count(ResultSet rs) throws SQLException {
        int n = 0;
        try (rs) {
            while (rs.next()) n++;
        }
        return n;
    }

    static void catalog(Connection c, Map<String, Object> descriptions) throws Exception {
        DatabaseMetaData md = c.getMetaData();
        List<String> schemas = column(md.getSchemas(), "TABLE_SCHEM");
        for (String s : List.of("sales", "supply", "geo", "pg_catalog", "information_schema")) {
            check("getSchemas() lists " + s, schemas.contains(s), schemas);
        }
        eq("getCatalogs() lists the database", column(md.getCatalogs(), "TABLE_CAT"), List.of("mesh"));

        Map<String, String> remarks = new LinkedHashMap<>();
        try (ResultSet rs = md.getTables(null, "sales", "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                eq("getTables TABLE_TYPE of " + rs.getString("TABLE_NAME"), rs.getString("TABLE_TYPE"), "TABLE");
                remarks.put(rs.getString("TABLE_NAME"), rs.getString("REMARKS"));
            }
        }
        eq("getTables(sales) names", new ArrayList<>(remarks.keySet()), List.of("customer", "lineitem", "orders"));
        eq("getTables REMARKS = the domain's description", remarks.get("orders"), descriptions.get("orders"));
        // Metabase asks for every relation type it can show.
        eq("getTables with Metabase's type list", count(md.getTables(null, "sales", "%",
            new String[] {"TABLE", "PARTITIONED TABLE", "VIEW", "FOREIGN TABLE", "MATERIALIZED VIEW"})), 3);

        List<String> names = new ArrayList<>();
        try (ResultSet rs = md.getColumns(null, "sales", "orders", "%")) {
            int position = 0;
            while (rs.next()) {
                position++;
                String name = rs.getString("COLUMN_NAME");
                names.add(name);
                eq("getColumns ORDINAL_POSITION of " + name, rs.getInt("ORDINAL_POSITION"), position);
                eq("getColumns NULLABLE of " + name + " (the fixture's columns are NOT NULL)", rs.getInt("NULLABLE"), DatabaseMetaData.columnNoNulls);
                eq("getColumns IS_NULLABLE of " + name, rs.getString("IS_NULLABLE"), "NO");
                if (descriptions.containsKey(name)) {
                    eq("getColumns REMARKS of " + name, rs.getString("REMARKS"), descriptions.get(name));
                }
                switch (name) {
                    case "o_orderkey" -> eq("getColumns type of o_orderkey", List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE")), List.of("int8", Types.BIGINT));
                    case "o_totalprice" -> eq("getColumns type, COLUMN_SIZE, DECIMAL_DIGITS of o_totalprice",
                        List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE"), rs.getInt("COLUMN_SIZE"), rs.getInt("DECIMAL_DIGITS")),
                        List.of("numeric", Types.NUMERIC, 15, 2));
                    case "o_orderdate" -> eq("getColumns type of o_orderdate", List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE")), List.of("date", Types.DATE));
                    case "o_comment" -> eq("getColumns type of o_comment", List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE")), List.of("text", Types.VARCHAR));
                    case "o_shippriority" -> eq("getColumns type of o_shippriority", List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE")), List.of("int4", Types.INTEGER));
                    default -> { }
                }
            }
        }
        eq("getColumns(orders) column order", names, List.of("o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice",
            "o_orderdate", "o_orderpriority", "o_clerk", "o_shippriority", "o_comment"));

        eq("getPrimaryKeys: none declared", count(md.getPrimaryKeys(null, "sales", "orders")), 0);
        eq("getImportedKeys: none declared", count(md.getImportedKeys(null, "sales", "orders")), 0);
        eq("getExportedKeys: none declared", count(md.getExportedKeys(null, "sales", "orders")), 0);
        eq("getIndexInfo: no indexes", count(md.getIndexInfo(null, "sales", "orders", false, true)), 0);
        eq("getBestRowIdentifier: no primary key to offer", count(md.getBestRowIdentifier(null, "sales", "orders", DatabaseMetaData.bestRowSession, true)), 0);
        List<String> typeNames = column(md.getTypeInfo(), "TYPE_NAME");
        for (String t : List.of("int8", "numeric", "text", "date", "timestamp", "bool")) {
            check("getTypeInfo() lists " + t, typeNames.contains(t), typeNames);
        }
        check("getProcedures() answers", count(md.getProcedures(null, "sales", "%")) >= 0, "");
        check("getFunctions() answers", count(md.getFunctions(null, "sales", "%")) >= 0, "");
    }

    static void policies(Connection admin, Connection dave, Connection carol) throws Exception {
        DatabaseMetaData dm = dave.getMetaData();
        List<String> schemas = column(dm.getSchemas(), "TABLE_SCHEM");
        check("dave: getSchemas() has no supply", !schemas.contains("supply"), schemas);
        check("dave: getSchemas() has sales", schemas.contains("sales"), schemas);
        eq("dave: getTables(supply) is empty", count(dm.getTables(null, "supply", "%", null)), 0);
        eq("dave: getColumns(supply.part) is empty", count(dm.getColumns(null, "supply", "part", "%")), 0);
        eq("dave: select from supply.part is 42501", sqlState(() -> {
            try (Statement st = dave.createStatement()) {
                st.executeQuery("SELECT * FROM supply.part").close();
            }
        }), "42501");

        List<String> phones = new ArrayList<>();
        try (Statement st = carol.createStatement(); ResultSet rs = st.executeQuery("SELECT c_phone FROM sales.customer")) {
            while (rs.next()) phones.add(rs.getString(1));
        }
        check("carol: reads customers", !phones.isEmpty(), phones.size());
        check("carol: every c_phone is masked", phones.stream().allMatch(s -> s.endsWith("****")),
            phones.stream().filter(s -> !s.endsWith("****")).limit(3).toList());
        // Server-prepared (from the fifth run) and binary: the mask still applies.
        try (PreparedStatement ps = carol.prepareStatement("SELECT c_phone FROM sales.customer WHERE c_custkey = ?")) {
            List<String> unmasked = new ArrayList<>();
            int found = 0;
            for (long key = 1; key <= 40; key++) {
                ps.setLong(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        found++;
                        if (!rs.getString(1).endsWith("****")) unmasked.add(rs.getString(1));
                    }
                }
            }
            check("carol: prepared reads find European customers", found > 0, found);
            eq("carol: prepared reads are masked", unmasked, List.of());
        }
        eq("carol: getColumns(customer.c_phone) as for the admin", columnType(carol, "customer", "c_phone"), columnType(admin, "customer", "c_phone"));
        eq("carol: c_phone is text", columnType(carol, "customer", "c_phone").get(0), "text");
    }

    static List<Object> columnType(Connection c, String table, String col) throws SQLException {
        try (ResultSet rs = c.getMetaData().getColumns(null, "sales", table, col)) {
            if (!rs.next()) return List.of("no column");
            return List.of(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE"), rs.getInt("COLUMN_SIZE"), rs.getInt("NULLABLE"));
        }
    }

    // Just enough JSON for the suite's parameters: objects, arrays, strings, numbers, literals.
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object parse() {
            Object v = value();
            ws();
            if (i != s.length()) throw error("trailing characters");
            return v;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("parameters: " + what + " at offset " + i);
        }

        private void ws() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }

        private Object value() {
            ws();
            if (i >= s.length()) throw error("unexpected end");
            char ch = s.charAt(i);
            if (ch == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = string();
                    ws();
                    expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect('}');
                        return m;
                    }
                }
            }
            if (ch == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') {
                        i++;
                    } else {
                        expect(']');
                        return l;
                    }
                }
            }
            if (ch == '"') return string();
            for (String lit : new String[] {"true", "false", "null"}) {
                if (s.startsWith(lit, i)) {
                    i += lit.length();
                    return lit.equals("null") ? null : Boolean.valueOf(lit);
                }
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            if (start == i) throw error("unexpected character");
            String num = s.substring(start, i);
            return num.matches("-?\\d+") ? (Object) Long.valueOf(num) : (Object) Double.valueOf(num);
        }

        private void expect(char ch) {
            if (i >= s.length() || s.charAt(i) != ch) throw error("expected '" + ch + "'");
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                if (i >= s.length()) throw error("unterminated string");
                char ch = s.charAt(i++);
                if (ch == '"') return b.toString();
                if (ch != '\\') {
                    b.append(ch);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append(e);
                }
            }
        }
    }
}
