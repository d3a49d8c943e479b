package org.hsr.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code hsr} command line (SPEC §7). Errors follow SPEC §5: one line {@code hsr: error: …} on stderr, exit 2 for
 * usage errors (bad flags, shapes, values), exit 1 for runtime failures (unreadable or corrupt files, out of memory),
 * no stack trace unless {@code --debug}.
 */
@Command(name = "hsr", mixinStandardHelpOptions = true, version = "hsr-attention 0.1.0",
        description = "Sparse attention by half-space reporting: exact ReLU^alpha and certified softmax.",
        subcommands = {SearchCommand.class, AttendCommand.class, BenchCommand.class, GenerateCommand.class,
                PerplexityCommand.class, InfoCommand.class, ConvertCommand.class, ModelBenchCommand.class,
                DemoCommand.class, ClusterCommand.class, AnalyzeCommand.class,
                CommandLine.HelpCommand.class})
public final class HsrMain implements Runnable {

    static boolean debug;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "missing command (try: hsr --help)");
    }

    /**
     * The launcher's entry. A SIGINT or SIGTERM can arrive at any moment of the start: once the JVM's shutdown has
     * begun, registering a shutdown hook (ours, or the one java.util.logging registers on first use) throws
     * {@code IllegalStateException: Shutdown in progress}. Whatever fails then is a consequence of the signal, not an
     * error of the run: nothing is printed and this thread waits while the JVM exits with the signal's status
     * (130 for SIGINT, 143 for SIGTERM).
     */
    public static void main(String[] args) {
        int code;
        try {
            installShutdownHook(); // first, so that an early signal still aborts what is written
            code = run(args);
        } catch (Throwable t) {
            if (!shuttingDown()) throw t;
            code = 130;
        }
        if (shuttingDown()) awaitShutdown();
        System.exit(code);
    }

    /** True once the JVM's shutdown sequence has begun (a signal, or System.exit from another thread). */
    static boolean shuttingDown() {
        Thread probe = new Thread(() -> {});
        try {
            Runtime.getRuntime().addShutdownHook(probe);
            Runtime.getRuntime().removeShutdownHook(probe);
            return false;
        } catch (IllegalStateException e) {
            return true;
        }
    }

    /** Waits, silent, for the shutdown under way to end the JVM. */
    private static void awaitShutdown() {
        while (true) {
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException ignored) {
                // keep waiting: the JVM halts when its shutdown hooks are done
            }
        }
    }

    /** Runs the CLI and returns the exit code (for tests). */
    public static int run(String... args) {
        debug = java.util.Arrays.asList(args).contains("--debug");
        String[] rest = java.util.Arrays.stream(args).filter(a -> !a.equals("--debug")).toArray(String[]::new);
        configureLogging();
        CommandLine cl = new CommandLine(new HsrMain());
        cl.setExecutionExceptionHandler((ex, line, parse) -> handle(ex, line.getErr()));
        cl.setParameterExceptionHandler((ex, args2) -> {
            ex.getCommandLine().getErr().println("hsr: error: " + oneLine(ex.getMessage()));
            if (debug) ex.printStackTrace(ex.getCommandLine().getErr());
            return 2;
        });
        installShutdownHook();
        try {
            return cl.execute(rest);
        } catch (Throwable t) { // picocli hands its handler Exceptions only: an Error (out of memory) arrives here
            return handle(t, cl.getErr());
        }
    }

    private static final java.util.concurrent.atomic.AtomicBoolean HOOKED = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * On SIGTERM or SIGINT the JVM runs its shutdown hooks: this one deletes the temporaries of an output set being
     * written (or waits for one being renamed into place), so an interrupted run leaves the previous outputs as they
     * were and no temporary file.
     */
    private static void installShutdownHook() {
        if (HOOKED.compareAndSet(false, true)) {
            try {
                Runtime.getRuntime().addShutdownHook(new Thread(CliIO::abortActiveOutputs, "hsr-abort-outputs"));
            } catch (IllegalStateException e) { // shutdown in progress: nothing is written any more
                HOOKED.set(false);
                throw e;
            }
        }
    }

    static int handle(Throwable ex, PrintWriter err) {
        if (shuttingDown()) return 130; // a failure caused by the signal's shutdown: the signal's status, no message
        int code;
        String msg;
        Throwable t = ex;
        while ((t instanceof UncheckedIOException || t instanceof java.util.concurrent.ExecutionException
                || t instanceof java.util.concurrent.CompletionException) && t.getCause() != null) {
            t = t.getCause();
        }
        for (Throwable c = ex; c != null; c = c.getCause()) {
            if (c instanceof OutOfMemoryError) {
                t = c;
                break;
            }
        }
        if (t instanceof org.hsr.io.NpyFormatException f && f.unsupported()) {
            code = 2;
            msg = t.getMessage();
        } else if (t instanceof org.hsr.cluster.ClusterSetup.NoClusterException) {
            code = 1;
            msg = t.getMessage();
        } else if (t instanceof com.hazelcast.core.HazelcastException) { // the cluster failed the request (runtime)
            code = 1;
            msg = "cluster: " + t.getMessage();
        } else if (t instanceof UsageException || t instanceof IllegalArgumentException) {
            code = 2;
            msg = t.getMessage();
        } else if (t instanceof NoSuchFileException f) {
            code = 1;
            msg = "no such file: " + f.getFile();
        } else if (t instanceof AccessDeniedException f) {
            code = 1;
            msg = "permission denied: " + f.getFile();
        } else if (t instanceof FileSystemException f) {
            code = 1;
            msg = f.getFile() + ": " + (f.getReason() != null ? f.getReason() : f.getClass().getSimpleName());
        } else if (t instanceof IOException) {
            code = 1;
            msg = t.getMessage();
        } else if (t instanceof OutOfMemoryError) {
            code = 1;
            msg = String.format(java.util.Locale.ROOT, "out of memory: the Java heap (max %.0f MiB) is too small for "
                    + "this run; raise it with HSR_JAVA_OPTS=-Xmx<size> (the launcher's default is -Xmx16g)",
                    Runtime.getRuntime().maxMemory() / 1048576.0);
        } else {
            code = 1;
            msg = "internal error: " + t;
        }
        if (BenchCommand.Progress.lineOpen) { // end the progress bar's line: the error gets a line of its own
            err.println();
            BenchCommand.Progress.lineOpen = false;
        }
        err.println("hsr: error: " + oneLine(msg == null ? t.toString() : msg));
        if (debug) t.printStackTrace(err);
        err.flush();
        return code;
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ').replace('\r', ' ').strip();
    }

    /** Only warnings reach stderr by default (so errors stay one line); {@code HSR_LOG=info} shows the kernel choice. */
    private static void configureLogging() {
        System.setProperty("java.util.logging.SimpleFormatter.format", "hsr: %4$s: %5$s%n");
        Level level = "info".equalsIgnoreCase(System.getenv("HSR_LOG")) ? Level.INFO : Level.WARNING;
        Logger root = Logger.getLogger("");
        root.setLevel(level);
        for (var h : root.getHandlers()) h.setLevel(level);
    }
}
