import java.sql.Connection;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * How long a JDBC connect spends in the jdbc:redshift-idc:// wrapper, measured in one JVM.
 *
 * <p>Why it exists: the wrapper's promise is that a per-connection token costs almost nothing
 * on a cache hit. This program opens and closes connections to the same server, interleaving
 * four kinds so that machine drift hits all of them alike, and prints the medians as one JSON
 * document (scripts/bench-jdbc turns it into the README's table):
 *
 * <ul>
 *   <li>{@code static}: {@code jdbc:redshift://} with a token given as a property (the floor);
 *   <li>{@code wrapper}: {@code jdbc:redshift-idc://}, the executable answering from its cache;
 *   <li>{@code exec_hit}: the executable alone, started from Java as the wrapper starts it;
 *   <li>{@code exec_true}: {@code /bin/true} started the same way (the process-start floor).
 * </ul>
 *
 * <p>Usage: java JdbcConnectBench ROUNDS STATIC_URL WRAPPER_URL EXECUTABLE_ARGV... -- key=value...
 * (the properties are given to both connects; the static one also gets the token properties
 * from one run of the executable).
 */
public final class JdbcConnectBench {
    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        String staticUrl = args[1];
        String wrapperUrl = args[2];
        int sep = Arrays.asList(args).indexOf("--");
        List<String> exe = Arrays.asList(args).subList(3, sep);
        Properties common = new Properties();
        for (String kv : Arrays.asList(args).subList(sep + 1, args.length)) {
            int eq = kv.indexOf('=');
            common.setProperty(kv.substring(0, eq), kv.substring(eq + 1));
        }
        Properties staticProps = new Properties();
        staticProps.putAll(common);
        staticProps.load(new ProcessBuilder(exe).start().getInputStream());

        List<Long> st = new ArrayList<>(), wr = new ArrayList<>(), hit = new ArrayList<>(),
                tru = new ArrayList<>();
        int warmup = Math.max(20, rounds / 10);
        for (int i = 0; i < warmup + rounds; i++) {
            long a = connect(staticUrl, staticProps);
            long b = connect(wrapperUrl, common);
            long c = spawn(exe);
            long d = spawn(Arrays.asList("/bin/true"));
            if (i >= warmup) {
                st.add(a);
                wr.add(b);
                hit.add(c);
                tru.add(d);
            }
        }
        System.out.println("{\"rounds\":" + rounds + ",\"static_ms\":" + median(st)
                + ",\"wrapper_ms\":" + median(wr) + ",\"exec_hit_ms\":" + median(hit)
                + ",\"exec_true_ms\":" + median(tru) + ",\"java\":\"" + System.getProperty("java.version")
                + "\"}");
    }

    private static long connect(String url, Properties p) throws Exception {
        long t = System.nanoTime();
        try (Connection c = DriverManager.getConnection(url, p)) {
            if (c.isClosed()) {
                throw new IllegalStateException("connection not open");
            }
        }
        return System.nanoTime() - t;
    }

    private static long spawn(List<String> argv) throws Exception {
        long t = System.nanoTime();
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        byte[] buf = new byte[8192];
        while (p.getInputStream().read(buf) != -1) {
            // drain, as the wrapper does
        }
        if (p.waitFor() != 0) {
            throw new IllegalStateException(argv + " failed");
        }
        return System.nanoTime() - t;
    }

    private static double median(List<Long> nanos) {
        long[] s = nanos.stream().mapToLong(Long::longValue).sorted().toArray();
        double m = s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2.0;
        return Math.round(m / TimeUnit.MILLISECONDS.toNanos(1) * 1000) / 1000.0;
    }
}
