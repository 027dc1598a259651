package io.github.redshiftidctoken.jdbc;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * Runs {@code redshift-idc-token --format jdbc} once, bounded in time, and returns the driver
 * properties it printed.
 *
 * <p>Why it exists: a JDBC {@code connect} must never hang and never leak the token, whatever the
 * executable does. So the child is started from an argument vector (never a shell), its stdout
 * and stderr are drained concurrently (a full pipe cannot block it), it is killed together with
 * its descendants (a {@code credential_process} it started, say) once the deadline has passed,
 * and its stdout, which holds the token, is parsed straight into a {@link Properties} and the
 * bytes overwritten. Nothing here logs; the only text that leaves is the child's one-line error.
 */
final class TokenProcess {
    /** Time the executable gets beyond its own {@code --timeout} to report it before it is killed. */
    static final long KILL_MARGIN_MILLIS = 2000;

    /** More than any real output (a token is a few KiB); the rest is read and dropped. */
    private static final int MAX_STDOUT = 256 * 1024;
    private static final int MAX_STDERR = 16 * 1024;

    /**
     * How long the pipes may stay open after the child exited. The executable writes its output
     * in one write before it exits, so its pipes end with it; only a process it left behind
     * (re-parented, no longer ours to kill) can hold them open, and what the child printed is
     * read within this time anyway. Waiting for end of file instead would stall the connect
     * until the deadline: a reader blocked in {@code read} holds the stream's lock, so the JDK
     * cannot swap in the buffered rest when the child exits.
     */
    private static final long EXIT_GRACE_MILLIS = 500;

    /**
     * Pipe readers. Pooled threads keep a connect cheap (a cache hit costs a couple of
     * milliseconds in all); daemon threads never keep the JVM alive.
     */
    private static final ExecutorService DRAINERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "redshift-idc-token pipe reader");
        t.setDaemon(true);
        return t;
    });

    private TokenProcess() {}

    /**
     * Runs {@code argv} with a deadline of {@code timeoutSeconds} plus {@link #KILL_MARGIN_MILLIS}
     * and returns what it printed as {@code java.util.Properties}.
     *
     * @throws SQLException with the child's one-line error and an SQLState from {@link Failure}
     */
    static Properties run(List<String> argv, long timeoutSeconds) throws SQLException {
        String program = argv.get(0);
        ProcessBuilder pb = new ProcessBuilder(argv);
        Process child;
        try {
            child = pb.start();
        } catch (IOException e) {
            throw Failure.cannotStart(program, e);
        }
        // The child never reads stdin: close it so a program that does sees end of file.
        closeQuietly(child.getOutputStream());
        Drain outDrain = new Drain(child.getInputStream(), MAX_STDOUT);
        Drain errDrain = new Drain(child.getErrorStream(), MAX_STDERR);
        Future<?> out = DRAINERS.submit(outDrain);
        Future<?> err = DRAINERS.submit(errDrain);

        long deadline = System.nanoTime()
                + TimeUnit.SECONDS.toNanos(timeoutSeconds)
                + TimeUnit.MILLISECONDS.toNanos(KILL_MARGIN_MILLIS);
        byte[] stdout = null;
        try {
            boolean exited;
            try {
                exited = child.waitFor(remaining(deadline), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                killTree(child);
                Thread.currentThread().interrupt();
                throw Failure.interrupted(program);
            }
            if (!exited) {
                killTree(child);
                throw Failure.timedOut(program, timeoutSeconds);
            }
            // The pipes reach end of file when the child exits, unless a process it left
            // behind still holds them open: then what was printed is taken after a short grace.
            long settle = Math.min(deadline,
                    System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(EXIT_GRACE_MILLIS));
            awaitEnd(out, settle);
            awaitEnd(err, settle);
            if (child.exitValue() == 0) {
                // A successful run wrote its whole document before it exited; a reader a busy
                // machine has not run yet may still have none of it: wait for the document's
                // last line (not for end of file, which a process left behind may hold off).
                awaitDocument(out, outDrain, deadline);
            }
            stdout = outDrain.taken();
            byte[] stderr = errDrain.taken();
            int status = child.exitValue();
            if (status != 0) {
                throw Failure.forExit(program, status, new String(stderr, StandardCharsets.UTF_8));
            }
            return parse(program, stdout);
        } finally {
            if (stdout != null) {
                Arrays.fill(stdout, (byte) 0);
            }
            out.cancel(true);
            err.cancel(true);
        }
    }

    private static Properties parse(String program, byte[] stdout) throws SQLException {
        Properties p = new Properties();
        try {
            // The jdbc format is ASCII with \\uXXXX escapes, exactly what load(InputStream) reads.
            p.load(new ByteArrayInputStream(stdout));
        } catch (IOException | IllegalArgumentException e) {
            throw Failure.badOutput(program);
        }
        String token = p.getProperty("token");
        if (token == null || token.isEmpty() || p.getProperty("token_type") == null
                || p.getProperty("plugin_name") == null) {
            p.clear();
            throw Failure.badOutput(program);
        }
        return p;
    }

    /** Reads a stream to its end on a pool thread, keeping at most {@code limit} bytes. */
    private static final class Drain implements Runnable {
        private final InputStream in;
        private final int limit;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream(512);
        /** The last byte kept, or -1: whether a document's last line is complete. */
        private int last = -1;

        Drain(InputStream in, int limit) {
            this.in = in;
            this.limit = limit;
        }

        @Override
        public void run() {
            byte[] buf = new byte[8192];
            try (InputStream s = in) {
                int n;
                while ((n = s.read(buf)) != -1) {
                    synchronized (kept) {
                        int room = limit - kept.size();
                        if (room > 0) {
                            int k = Math.min(n, room);
                            kept.write(buf, 0, k);
                            last = buf[k - 1];
                        }
                    }
                }
            } catch (IOException e) {
                // A read error on a pipe: what arrived before it is what was printed.
            } finally {
                Arrays.fill(buf, (byte) 0);
            }
        }

        boolean endsWithNewline() {
            synchronized (kept) {
                return last == '\n';
            }
        }

        /** What has been read so far (all of it once the stream ended). */
        byte[] taken() {
            synchronized (kept) {
                return kept.toByteArray();
            }
        }
    }

    /** Waits until the reader ended or has a complete last line, or {@code deadline}. */
    private static void awaitDocument(Future<?> f, Drain drain, long deadline) {
        while (!f.isDone() && !drain.endsWithNewline() && remaining(deadline) > 0) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Waits until the reader reached end of file, or {@code deadline}. */
    private static void awaitEnd(Future<?> f, long deadline) {
        try {
            f.get(remaining(deadline), TimeUnit.NANOSECONDS);
        } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
            // Still open (held by a process left behind), or failed: take what was read.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    /**
     * Kills the child and every process below it. The descendants are listed before the child
     * dies (afterwards they are re-parented and no longer ours to find), then all are killed,
     * and each one's own descendants at that moment too.
     *
     * <p>Descendants need {@code ProcessHandle} (Java 9+), reached by reflection because this
     * library is Java 8 bytecode; on Java 8 only the child itself is killed.
     */
    static void killTree(Process child) {
        List<Object> handles = descendants(child);
        child.destroyForcibly();
        for (Object h : handles) {
            for (Object d : descendantsOf(h)) {
                destroy(d);
            }
            destroy(h);
        }
        try {
            child.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<Object> descendants(Process child) {
        try {
            Object handle = Process.class.getMethod("toHandle").invoke(child);
            return descendantsOf(handle);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return new ArrayList<>();
        }
    }

    private static List<Object> descendantsOf(Object handle) {
        List<Object> all = new ArrayList<>();
        try {
            Class<?> ph = Class.forName("java.lang.ProcessHandle");
            // A Stream<ProcessHandle>: Stream itself is Java 8 API.
            Stream<?> stream = (Stream<?>) ph.getMethod("descendants").invoke(handle);
            Iterator<?> it = stream.iterator();
            while (it.hasNext()) {
                all.add(it.next());
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Java 8, or the process is gone: nothing (more) to find.
        }
        return all;
    }

    private static void destroy(Object handle) {
        try {
            Method m = Class.forName("java.lang.ProcessHandle").getMethod("destroyForcibly");
            m.invoke(handle);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Already gone.
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // Nothing to do: the child may already have exited.
        }
    }
}
