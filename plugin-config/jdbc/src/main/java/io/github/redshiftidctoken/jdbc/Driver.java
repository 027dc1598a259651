package io.github.redshiftidctoken.jdbc;

import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.DriverPropertyInfo;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.logging.Logger;

/**
 * A {@link java.sql.Driver} for {@code jdbc:redshift-idc://HOST[:PORT]/DB[?props]}: on every
 * connect it runs {@code redshift-idc-token} for a fresh (usually cached) IAM Identity Center
 * token and opens the Amazon Redshift JDBC driver on {@code jdbc:redshift://HOST[:PORT]/DB} with
 * {@code plugin_name=com.amazon.redshift.plugin.IdpTokenAuthPlugin}, the token and
 * {@code token_type}.
 *
 * <p>Why it exists: the Redshift driver loads only its built-in plugins, so code that obtains a
 * token per connection has to sit in front of it, as a driver of its own (the pattern of the AWS
 * Advanced JDBC Wrapper). It needs no Redshift class at compile time: the real driver is found at
 * run time through this class's loader (the same tool-managed class path, normally) or
 * {@link DriverManager}. Every other property, from the URL or the {@link Properties}, is passed
 * through unchanged.
 *
 * <p>The token lives only in the {@link Properties} handed to the real driver (cleared right
 * after): never in a URL, a log, an exception message, {@code toString()} or a system property.
 */
public final class Driver implements java.sql.Driver {
    /** The URL prefix this driver accepts. */
    public static final String PROTOCOL_PREFIX = "jdbc:redshift-idc:";
    /** What {@link #PROTOCOL_PREFIX} is replaced with for the real driver. */
    static final String TARGET_PREFIX = "jdbc:redshift:";
    static final String REDSHIFT_DRIVER = "com.amazon.redshift.Driver";

    /** Connection property: path of the executable (not accepted in the URL, see below). */
    public static final String EXECUTABLE_PROPERTY = "idcTokenExecutable";
    /** Environment variable: path of the executable (the same one the shell launchers read). */
    public static final String EXECUTABLE_ENV = "REDSHIFT_IDC_TOKEN_BIN";
    static final String DEFAULT_EXECUTABLE = "redshift-idc-token";
    /** Seconds the executable gets when neither loginTimeout nor DriverManager sets a limit. */
    public static final long DEFAULT_TIMEOUT_SECONDS = 30;

    // The Redshift driver's own property names (it compares them ignoring case).
    static final String CLUSTER_ID = "ClusterID";
    static final String WORKGROUP = "serverlessWorkGroup";
    static final String IS_SERVERLESS = "isServerless";
    static final String REGION = "Region";
    static final String PROFILE = "Profile";
    static final String LOGIN_TIMEOUT = "loginTimeout";
    static final String LOGIN_URL = "login_url";
    static final String SSL = "ssl";
    static final String SSL_MODE = "sslmode";
    static final String SSL_FACTORY = "sslfactory";
    /** The sslmode values with which the driver checks the server's certificate. */
    static final List<String> VERIFYING_MODES = Arrays.asList("verify-ca", "verify-full");
    /** The driver's socket factories that check the certificate (LibPQFactory is its default). */
    static final List<String> VALIDATING_FACTORIES = Arrays.asList(
            "com.amazon.redshift.ssl.LibPQFactory", "com.amazon.redshift.ssl.jdbc4.LibPQFactory",
            "com.amazon.redshift.ssl.DefaultJavaSSLFactory",
            "com.amazon.redshift.ssl.SingleCertValidatingFactory");
    /** Set by this driver from the executable's output; a caller's values are replaced. */
    private static final List<String> TOKEN_KEYS = Arrays.asList("plugin_name", "token", "token_type");

    static {
        try {
            DriverManager.registerDriver(new Driver());
        } catch (SQLException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static volatile java.sql.Driver redshift;

    @Override
    public boolean acceptsURL(String url) {
        return url != null && url.startsWith(PROTOCOL_PREFIX);
    }

    @Override
    public Connection connect(String url, Properties info) throws SQLException {
        if (!acceptsURL(url)) {
            return null; // the JDBC contract: DriverManager asks the next driver
        }
        Target target = Target.parse(url, info);
        if (target.urlProperties.stringPropertyNames().stream()
                .anyMatch(k -> k.equalsIgnoreCase(EXECUTABLE_PROPERTY))) {
            // A URL is what applications let people paste: it must not choose a program to run.
            throw Failure.badSetting(EXECUTABLE_PROPERTY
                    + " is not accepted in the URL: set it as a connection property, or set "
                    + EXECUTABLE_ENV);
        }
        Properties props = target.properties;
        if (get(props, LOGIN_URL) != null) {
            // The Python provider once took its program from login_url; neither does now.
            throw Failure.badSetting(LOGIN_URL + " is not used with redshift-idc-token and is"
                    + " refused (connection settings must not name a program to run): remove it;"
                    + " the executable is " + EXECUTABLE_PROPERTY + ", $" + EXECUTABLE_ENV
                    + " or redshift-idc-token on PATH");
        }
        refuseUnverified(props);

        Properties token = TokenProcess.run(command(target), timeoutSeconds(props));
        Properties forDriver = new Properties();
        for (String k : props.stringPropertyNames()) {
            if (!k.equalsIgnoreCase(EXECUTABLE_PROPERTY) && !isTokenKey(k)) {
                forDriver.setProperty(k, props.getProperty(k));
            }
        }
        for (String k : TOKEN_KEYS) {
            forDriver.setProperty(k, token.getProperty(k));
        }
        token.clear();
        try {
            Connection c = redshift().connect(target.redshiftUrl, forDriver);
            if (c == null) {
                throw new SQLException("the Amazon Redshift JDBC driver did not accept "
                        + target.redshiftUrl, Failure.UNEXPECTED);
            }
            return c;
        } finally {
            forDriver.clear();
        }
    }

    /** The executable's argument vector for this connection. */
    static List<String> command(Target t) {
        Properties p = t.properties;
        List<String> argv = new ArrayList<>();
        argv.add(executable(p));
        argv.add("--format=jdbc");
        argv.add("--timeout=" + Math.max(1, Math.min(3600, timeoutSeconds(p))));
        String workgroup = get(p, WORKGROUP);
        String cluster = get(p, CLUSTER_ID);
        // Values are attached with '=' so that none can be taken for an option.
        if (workgroup != null) {
            argv.add("--workgroup=" + workgroup);
        } else if (cluster != null && !"true".equalsIgnoreCase(get(p, IS_SERVERLESS))) {
            argv.add("--cluster-id=" + cluster);
        } else {
            argv.add("--host=" + t.host);
        }
        String region = get(p, REGION);
        if (region != null) {
            argv.add("--region=" + region);
        }
        String profile = get(p, PROFILE);
        if (profile != null) {
            argv.add("--profile=" + profile);
        }
        return argv;
    }

    static String executable(Properties p) {
        String fromProperty = get(p, EXECUTABLE_PROPERTY);
        if (fromProperty != null) {
            return fromProperty;
        }
        String fromEnv = System.getenv(EXECUTABLE_ENV);
        return fromEnv != null && !fromEnv.isEmpty() ? fromEnv : DEFAULT_EXECUTABLE;
    }

    /**
     * The connection's login timeout in whole seconds (rounded up): the loginTimeout property,
     * else {@link DriverManager#getLoginTimeout()}, else {@link #DEFAULT_TIMEOUT_SECONDS}.
     */
    static long timeoutSeconds(Properties p) {
        String value = get(p, LOGIN_TIMEOUT);
        if (value != null) {
            try {
                double s = Double.parseDouble(value);
                if (s > 0 && s < 1e9) {
                    return (long) Math.ceil(s);
                }
            } catch (NumberFormatException e) {
                // As the Redshift driver does: an unparsable value means "not set".
            }
        }
        int global = DriverManager.getLoginTimeout();
        return global > 0 ? global : DEFAULT_TIMEOUT_SECONDS;
    }

    /**
     * The token is a login: it is only ever sent over TLS with the server's certificate checked.
     * Refuses every setting of the Amazon Redshift JDBC driver that turns that off: {@code ssl}
     * other than {@code true}, an {@code sslmode} other than verify-ca or verify-full (disable,
     * allow and prefer may send in clear text; require encrypts without checking), and an
     * {@code sslfactory} other than the driver's validating ones (NonValidatingFactory, the
     * common recipe, accepts any certificate; an unknown factory cannot be vouched for).
     */
    static void refuseUnverified(Properties p) throws SQLException {
        String ssl = get(p, SSL);
        if (ssl != null && !"true".equalsIgnoreCase(ssl)) {
            throw unverified(SSL + "=" + ssl + " turns TLS off (the driver uses TLS only with"
                    + " ssl=true, its default): remove it");
        }
        String mode = get(p, SSL_MODE);
        if (mode != null && !VERIFYING_MODES.contains(mode.toLowerCase(Locale.ROOT))) {
            throw unverified(SSL_MODE + "=" + mode + " does not check the server's certificate"
                    + " (only verify-full and verify-ca do): use sslmode=verify-full");
        }
        String factory = get(p, SSL_FACTORY);
        if (factory != null && !VALIDATING_FACTORIES.contains(factory)) {
            throw unverified(SSL_FACTORY + "=" + factory + " is not one of the driver's"
                    + " certificate-checking factories (" + String.join(", ", VALIDATING_FACTORIES)
                    + "): remove it, and give the CA with ssltruststorepath or sslrootcert");
        }
    }

    private static SQLException unverified(String why) {
        return Failure.badSetting("refusing to send an IAM Identity Center token without"
                + " verified TLS: " + why);
    }

    private static boolean isTokenKey(String k) {
        for (String t : TOKEN_KEYS) {
            if (t.equalsIgnoreCase(k)) {
                return true;
            }
        }
        return false;
    }

    /** A property by name, ignoring case as the Redshift driver does; empty counts as unset. */
    static String get(Properties p, String name) {
        String exact = p.getProperty(name);
        if (exact != null) {
            return exact.isEmpty() ? null : exact;
        }
        for (String k : p.stringPropertyNames()) {
            if (k.equalsIgnoreCase(name)) {
                String v = p.getProperty(k);
                return v == null || v.isEmpty() ? null : v;
            }
        }
        return null;
    }

    /** The real driver, from this class's loader (the tool's driver class path) or DriverManager. */
    static java.sql.Driver redshift() throws SQLException {
        java.sql.Driver d = redshift;
        if (d != null) {
            return d;
        }
        try {
            Class<?> c = Class.forName(REDSHIFT_DRIVER, true, Driver.class.getClassLoader());
            d = (java.sql.Driver) c.getDeclaredConstructor().newInstance();
        } catch (ClassNotFoundException e) {
            try {
                d = DriverManager.getDriver(TARGET_PREFIX + "//localhost/dev");
            } catch (SQLException notRegistered) {
                throw new SQLException("the Amazon Redshift JDBC driver (" + REDSHIFT_DRIVER
                        + ") is not on the class path: add redshift-jdbc42-2.x.jar (2.1.0 or"
                        + " later) next to the redshift-idc-jdbc jar", "08001", e);
            }
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new SQLException("cannot load the Amazon Redshift JDBC driver: " + e, "08001", e);
        }
        redshift = d;
        return d;
    }

    @Override
    public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) throws SQLException {
        List<DriverPropertyInfo> all = new ArrayList<>();
        DriverPropertyInfo exe = new DriverPropertyInfo(EXECUTABLE_PROPERTY,
                info == null ? null : info.getProperty(EXECUTABLE_PROPERTY));
        exe.description = "Path of redshift-idc-token (default: $" + EXECUTABLE_ENV
                + ", else redshift-idc-token on PATH)";
        all.add(exe);
        if (acceptsURL(url)) {
            try {
                for (DriverPropertyInfo p : redshift().getPropertyInfo(
                        TARGET_PREFIX + url.substring(PROTOCOL_PREFIX.length()), info)) {
                    if (!isTokenKey(p.name)) {
                        all.add(p);
                    }
                }
            } catch (SQLException e) {
                // Without the real driver, only our own property is known.
            }
        }
        return all.toArray(new DriverPropertyInfo[0]);
    }

    @Override
    public int getMajorVersion() {
        return versionPart(0);
    }

    @Override
    public int getMinorVersion() {
        return versionPart(1);
    }

    /** From the jar manifest's Implementation-Version (Cargo.toml's version, set by build). */
    private static int versionPart(int i) {
        String v = Driver.class.getPackage() == null ? null
                : Driver.class.getPackage().getImplementationVersion();
        try {
            return v == null ? 0 : Integer.parseInt(v.split("[.-]")[i]);
        } catch (RuntimeException e) {
            return 0;
        }
    }

    @Override
    public boolean jdbcCompliant() {
        return false;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException("java.util.logging is not used");
    }

    /**
     * A {@code jdbc:redshift-idc:} URL taken apart by the Redshift driver's own rules: the
     * properties after the first {@code ?} (else {@code ;}) split on {@code &} and {@code ;},
     * values URL-decoded, and they win over the {@link Properties} given to connect.
     */
    static final class Target {
        /** {@code jdbc:redshift://HOST[:PORT]/DB}: the URL without its properties. */
        final String redshiftUrl;
        /** The first host, without port: what the executable derives target and region from. */
        final String host;
        /** The caller's properties with the URL's laid over them (a new object). */
        final Properties properties;
        /** The URL's own properties. */
        final Properties urlProperties;

        private Target(String redshiftUrl, String host, Properties properties, Properties urlProperties) {
            this.redshiftUrl = redshiftUrl;
            this.host = host;
            this.properties = properties;
            this.urlProperties = urlProperties;
        }

        static Target parse(String url, Properties info) throws SQLException {
            String rest = url.substring(PROTOCOL_PREFIX.length());
            String server = rest;
            String args = "";
            int q = rest.indexOf('?');
            if (q < 0) {
                q = rest.indexOf(';');
            }
            if (q >= 0) {
                server = rest.substring(0, q);
                args = rest.substring(q + 1);
            }
            int slash = server.startsWith("//") ? server.indexOf('/', 2) : -1;
            if (slash < 0 || slash == 2) {
                throw Failure.badSetting("invalid URL: expected " + PROTOCOL_PREFIX
                        + "//HOST[:PORT]/DATABASE[?PROPERTIES]");
            }
            String hostPort = server.substring(2, slash).split(",")[0];
            int colon = hostPort.lastIndexOf(':');
            String host = colon > hostPort.lastIndexOf(']') && colon >= 0
                    ? hostPort.substring(0, colon) : hostPort;

            Properties merged = new Properties();
            if (info != null) {
                for (String k : info.stringPropertyNames()) {
                    merged.setProperty(k, info.getProperty(k));
                }
            }
            Properties fromUrl = new Properties();
            for (String pair : args.split("[;&]")) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String k = eq < 0 ? pair : pair.substring(0, eq);
                String v = eq < 0 ? "" : decode(pair.substring(eq + 1));
                fromUrl.setProperty(k, v);
                for (String existing : merged.stringPropertyNames()) {
                    if (existing.equalsIgnoreCase(k)) {
                        merged.remove(existing);
                    }
                }
                merged.setProperty(k, v);
            }
            return new Target(TARGET_PREFIX + server, host, merged, fromUrl);
        }

        private static String decode(String s) throws SQLException {
            try {
                return URLDecoder.decode(s, "UTF-8");
            } catch (UnsupportedEncodingException | IllegalArgumentException e) {
                throw Failure.badSetting("invalid URL: a property value is not URL-encoded correctly");
            }
        }

        @Override
        public String toString() {
            return redshiftUrl; // never the properties
        }
    }
}
