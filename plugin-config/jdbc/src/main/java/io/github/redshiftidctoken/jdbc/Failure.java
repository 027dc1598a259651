package io.github.redshiftidctoken.jdbc;

import java.io.IOException;
import java.sql.SQLException;
import java.sql.SQLInvalidAuthorizationSpecException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLNonTransientException;
import java.sql.SQLTimeoutException;
import java.sql.SQLTransientConnectionException;

/**
 * Turns a failure of {@code redshift-idc-token} into the {@link SQLException} a JDBC tool shows.
 *
 * <p>Why it exists: tools decide from the SQLState (and the exception class) whether to ask for
 * other credentials, retry, or show a configuration error, so the executable's exit status is
 * mapped here, in one place (the table is in plugin-config/jdbc/README.md). The message is the
 * executable's own one-line error, which says what to do; the executable never prints a token
 * on stderr, and its stdout (which holds the token) never reaches this class.
 */
final class Failure {
    /** Bad arguments or targets, unparsable host, no region; also a bad wrapper setting. */
    static final String INVALID_PARAMETER_VALUE = "22023";
    /**
     * Credentials missing, expired or rejected; not identity-enhanced; access denied; a sign-in
     * needed; an IAM Identity Center setup that does not allow this sign-in.
     */
    static final String INVALID_AUTHORIZATION = "28000";
    /** Throttling, AWS-side or network failure, timeout: try again later. */
    static final String UNABLE_TO_CONNECT = "08001";
    /** A bug, a crash, an unknown exit status, output that is not the jdbc format. */
    static final String UNEXPECTED = "99999";

    private static final int MAX_MESSAGE = 1000;

    private Failure() {}

    /**
     * The exception for a non-zero exit status, with the child's one-line error as message: one
     * case for every code of plugin-config/exit-codes.json (the tests run each through here).
     */
    static SQLException forExit(String program, int status, String stderr) {
        String line = errorLine(stderr);
        String message = line != null ? line
                : program + " failed with exit status " + status + " and printed no error";
        switch (status) {
            case 1: // internal: a bug or an unexpected local failure
                return new SQLNonTransientConnectionException(message, UNEXPECTED, status);
            case 2: // usage
                return new SQLNonTransientException(message, INVALID_PARAMETER_VALUE, status);
            case 3: // credentials
            case 4: // denied
                return new SQLInvalidAuthorizationSpecException(message, INVALID_AUTHORIZATION, status);
            case 5: // transient
                return new SQLTransientConnectionException(message, UNABLE_TO_CONNECT, status);
            case 6: // sign_in: a person must sign in; no retry helps before that
                if (!message.contains("redshift-idc-token login")) {
                    message += " (sign in with `redshift-idc-token login`, then connect again)";
                }
                return new SQLInvalidAuthorizationSpecException(message, INVALID_AUTHORIZATION, status);
            case 7: // setup: the IAM Identity Center application or the profile must change
                return new SQLInvalidAuthorizationSpecException(message, INVALID_AUTHORIZATION, status);
            case 126: // cannot_execute (exec)
            case 127: // command_not_found (exec)
                return new SQLNonTransientConnectionException(message, UNABLE_TO_CONNECT, status);
            default:
                return new SQLNonTransientConnectionException(message + " (" + program
                        + " ended with unknown exit status " + status + ")", UNEXPECTED, status);
        }
    }

    static SQLException timedOut(String program, long timeoutSeconds) {
        return new SQLTimeoutException(program + " did not finish within the login timeout of "
                + timeoutSeconds + " s and was stopped (set loginTimeout to allow more time)",
                UNABLE_TO_CONNECT);
    }

    static SQLException interrupted(String program) {
        return new SQLTransientConnectionException(
                "interrupted while waiting for " + program + "; it was stopped", UNABLE_TO_CONNECT);
    }

    static SQLException cannotStart(String program, IOException cause) {
        // IOException's message names the program and the OS error ("No such file or directory").
        return new SQLNonTransientConnectionException("cannot run " + program + ": "
                + oneLine(String.valueOf(cause.getMessage()))
                + " (put redshift-idc-token on PATH, or set " + Driver.EXECUTABLE_PROPERTY
                + " or " + Driver.EXECUTABLE_ENV + " to its full path)",
                UNABLE_TO_CONNECT, cause);
    }

    static SQLException badOutput(String program) {
        return new SQLNonTransientConnectionException(program
                + " exited successfully but did not print a token in the jdbc format"
                + " (is it redshift-idc-token?)", UNEXPECTED);
    }

    static SQLException badSetting(String message) {
        return new SQLNonTransientException(message, INVALID_PARAMETER_VALUE);
    }

    /**
     * The line that explains the failure: the last one starting with {@code error:} (warnings may
     * precede it), else the last non-empty line; control characters replaced, length capped.
     */
    static String errorLine(String stderr) {
        String last = null;
        String error = null;
        for (String line : stderr.split("\r?\n")) {
            String l = line.trim();
            if (l.isEmpty()) {
                continue;
            }
            last = l;
            if (l.startsWith("error:")) {
                error = l;
            }
        }
        String pick = error != null ? error : last;
        return pick == null ? null : oneLine(pick);
    }

    private static String oneLine(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX_MESSAGE));
        for (int i = 0; i < s.length() && b.length() < MAX_MESSAGE; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) ? ' ' : c);
        }
        return b.toString();
    }
}
