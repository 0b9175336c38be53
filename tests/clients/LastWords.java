// pgjdbc reads the FATAL error a refused connection ends with, instead of a reset connection:
// an oversized statement (54000), a startup packet over PostgreSQL's 10,000-byte limit (08P01),
// and a full server (53300), each over plaintext and TLS.
//
//   java -cp /usr/share/java/postgresql.jar tests/clients/LastWords.java \
//       '{"port": …, "full_port": …, "user": "…", "password": "…"}'
// The server at full_port has no free session slot. Exits non-zero at the first failed check.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class LastWords {
    static int checks = 0;

    static Properties props(String user, String password, boolean tls) {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        if (tls) {
            p.setProperty("sslmode", "require");
            // The test's self-signed certificate: encryption is what is under test here.
            p.setProperty("sslfactory", "org.postgresql.ssl.NonValidatingFactory");
        } else {
            p.setProperty("sslmode", "disable");
        }
        return p;
    }

    interface Attempt {
        void run() throws SQLException;
    }

    static void expect(String what, String sqlstate, Attempt a) {
        checks++;
        try {
            a.run();
        } catch (SQLException e) {
            if (!sqlstate.equals(e.getSQLState())) {
                System.err.println("pgjdbc: " + what + ": expected SQLSTATE " + sqlstate + ", got "
                    + e.getSQLState() + ": " + e.getMessage());
                System.exit(1);
            }
            System.out.println("ok " + checks + " - " + what + ": " + e.getMessage());
            return;
        }
        System.err.println("pgjdbc: " + what + ": no error");
        System.exit(1);
    }

    // The parameters are flat: a string or number per key.
    static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*\"?([^\",}]*)").matcher(json);
        if (!m.find()) {
            System.err.println("pgjdbc: parameter " + key + " missing");
            System.exit(2);
        }
        return m.group(1);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + field(args[0], "port") + "/mesh";
        String fullUrl = "jdbc:postgresql://127.0.0.1:" + field(args[0], "full_port") + "/mesh";
        String user = field(args[0], "user");
        String password = field(args[0], "password");
        String big = "x".repeat(5 << 20);
        for (boolean tls : new boolean[] {false, true}) {
            String over = tls ? " over TLS" : " in plaintext";
            expect("a 5 MiB statement" + over, "54000", () -> {
                try (Connection c = DriverManager.getConnection(url, props(user, password, tls));
                     Statement s = c.createStatement()) {
                    s.execute("SELECT '" + big + "'");
                }
            });
            expect("a startup packet over the limit" + over, "08P01", () -> {
                Properties p = props(user, password, tls);
                // pgjdbc puts the application name in the startup packet only for servers it
                // may assume are 9.0 or later.
                p.setProperty("assumeMinServerVersion", "10");
                p.setProperty("ApplicationName", "x".repeat(12000));
                DriverManager.getConnection(url, p).close();
            });
            expect("a full server" + over, "53300", () -> {
                DriverManager.getConnection(fullUrl, props(user, password, tls)).close();
            });
        }
        // The server goes on: a normal session still works.
        try (Connection c = DriverManager.getConnection(url, props(user, password, false));
             Statement s = c.createStatement()) {
            s.execute("SELECT 1");
        }
        System.out.println(checks + " checks passed");
    }
}
