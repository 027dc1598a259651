import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Test probe for the jdbc:redshift-idc:// wrapper driver, driven by tests/e2e/test_jdbc_wrapper.py.
 *
 * <p>Why it exists: the wrapper must be proved through DriverManager with the real Redshift
 * driver, exactly as a tool uses it. This program opens N connections at once (all threads
 * released together), runs {@code select 1} on each, and prints one JSON document: per connection
 * the result or the SQLException (class, SQLState, error code, message, causes), plus everything
 * in the JVM where a token could have leaked (system properties, the DriverManager log, each
 * connection's toString and metadata URL), for the test to search.
 *
 * <p>Usage: java -cp WRAPPER:REDSHIFT:. JdbcProbe [--connections N] [--login-timeout S]
 * URL [key=value ...]
 */
public final class JdbcProbe {
    public static void main(String[] args) throws Exception {
        int n = 1;
        int i = 0;
        for (; i < args.length && args[i].startsWith("--"); i += 2) {
            if (args[i].equals("--connections")) {
                n = Integer.parseInt(args[i + 1]);
            } else if (args[i].equals("--login-timeout")) {
                DriverManager.setLoginTimeout(Integer.parseInt(args[i + 1]));
            } else {
                throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        String url = args[i++];
        Properties props = new Properties();
        for (; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        StringWriter dmLog = new StringWriter();
        DriverManager.setLogWriter(new PrintWriter(dmLog, true));

        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<Future<String>> results = new ArrayList<>();
        for (int c = 0; c < n; c++) {
            results.add(pool.submit(() -> {
                go.await();
                return connectOnce(url, props);
            }));
        }
        long start = System.nanoTime();
        go.countDown();
        StringBuilder out = new StringBuilder("{\"results\":[");
        for (int c = 0; c < n; c++) {
            out.append(c == 0 ? "" : ",").append(results.get(c).get(120, TimeUnit.SECONDS));
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        pool.shutdown();
        out.append("],\"elapsed_ms\":").append(millis);
        out.append(",\"system_properties\":").append(json(System.getProperties().toString()));
        out.append(",\"driver_manager_log\":").append(json(dmLog.toString()));
        out.append(",\"caller_properties\":").append(json(props.toString()));
        out.append("}");
        System.out.println(out);
    }

    private static String connectOnce(String url, Properties props) {
        long start = System.nanoTime();
        try (Connection c = DriverManager.getConnection(url, props)) {
            String toString = c.toString();
            String metaUrl = c.getMetaData().getURL();
            int value;
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("select 1")) {
                rs.next();
                value = rs.getInt(1);
            }
            return "{\"ok\":true,\"value\":" + value + ",\"connection\":" + json(toString)
                    + ",\"metadata_url\":" + json(metaUrl) + ",\"class\":" + json(c.getClass().getName())
                    + ",\"ms\":" + ms(start) + "}";
        } catch (SQLException e) {
            StringBuilder causes = new StringBuilder("[");
            for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
                causes.append(causes.length() > 1 ? "," : "").append(json(t.toString()));
            }
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            return "{\"ok\":false,\"exception\":" + json(e.getClass().getName())
                    + ",\"sqlstate\":" + json(e.getSQLState()) + ",\"error_code\":" + e.getErrorCode()
                    + ",\"message\":" + json(e.getMessage()) + ",\"to_string\":" + json(e.toString())
                    + ",\"causes\":" + causes + "]" + ",\"trace\":" + json(trace.toString())
                    + ",\"ms\":" + ms(start) + "}";
        }
    }

    private static long ms(long start) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    }

    static String json(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '"' || ch == '\\') {
                b.append('\\').append(ch);
            } else if (ch < 0x20) {
                b.append(String.format("\\u%04x", (int) ch));
            } else {
                b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
