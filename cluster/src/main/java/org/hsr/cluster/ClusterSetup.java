package org.hsr.cluster;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.Config;
import com.hazelcast.config.InMemoryFormat;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * How members and clients of a sharded cache are configured: a cluster name per deployment, TCP-IP join to the
 * given addresses (multicast, auto-detection and cloud discovery off), phone-home off, and the two maps:
 * <ul>
 *   <li>{@link #BLOCKS}: the blocks ({@link KvBlock}), {@code OBJECT} in-memory format (entry processors work on the
 *       stored object and its derived index), one synchronous backup;</li>
 *   <li>{@link #CACHES}: each cache's shape and committed lengths ({@link CacheMeta}), one synchronous backup.</li>
 * </ul>
 */
public final class ClusterSetup {
    private ClusterSetup() {}

    public static final String BLOCKS = "hsr-kv-blocks";
    public static final String CACHES = "hsr-kv-caches";
    /** Synchronous backups of every entry: the loss of any one member loses nothing. */
    public static final int BACKUPS = 1;
    /** Held so that its level stays set (the log manager keeps loggers weakly). */
    private static final Logger HAZELCAST_LOG = Logger.getLogger("com.hazelcast");

    /**
     * A member's configuration; {@code host} is the address it binds (that one only) and announces, null: Hazelcast
     * listens on every interface and announces the one it picks.
     */
    public static Config memberConfig(String cluster, String host, int port, List<String> join) {
        Config c = new Config();
        c.setClusterName(cluster);
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.logging.type", "jdk");
        c.setProperty("hazelcast.shutdownhook.policy", "GRACEFUL"); // SIGTERM hands the partitions over first
        // a member that stops answering (SIGKILL, a dead machine) is dropped after 15 s without a heartbeat, not 60
        c.setProperty("hazelcast.heartbeat.interval.seconds", "1");
        c.setProperty("hazelcast.max.no.heartbeat.seconds", "15");
        if (host != null) { // bind that address only (127.0.0.1 in tests) and announce it
            c.setProperty("hazelcast.local.localAddress", host);
            c.setProperty("hazelcast.socket.bind.any", "false");
        }
        NetworkConfig net = c.getNetworkConfig();
        net.setPort(port).setPortAutoIncrement(false);
        JoinConfig j = net.getJoin();
        j.getMulticastConfig().setEnabled(false);
        j.getAutoDetectionConfig().setEnabled(false);
        j.getTcpIpConfig().setEnabled(true).setMembers(join);
        c.addMapConfig(new MapConfig(BLOCKS).setInMemoryFormat(InMemoryFormat.OBJECT).setBackupCount(BACKUPS)
                .setAsyncBackupCount(0));
        c.addMapConfig(new MapConfig(CACHES).setInMemoryFormat(InMemoryFormat.BINARY).setBackupCount(BACKUPS)
                .setAsyncBackupCount(0));
        return c;
    }

    /** Starts a member; returns once it has joined (or formed) the cluster. */
    public static HazelcastInstance startMember(String cluster, String host, int port, List<String> join) {
        quietLogging(Level.WARNING);
        return Hazelcast.newHazelcastInstance(memberConfig(cluster, host, port, join));
    }

    /**
     * Connects a client; throws {@link NoClusterException} when no member answers within {@code timeoutMillis}.
     * Operations are redone after a connection loss: every operation of a sharded cache is idempotent.
     *
     * <p>The deadline holds whatever the address does: Hazelcast's cluster-connect timeout bounds the retries, but
     * one attempt on an address that accepts the TCP connection and never answers waits for the authentication,
     * which the client bounds by its heartbeat timeout (60 s). So the client starts on its own thread and this waits
     * at most {@code timeoutMillis}; a client that connects after the deadline is shut down.
     */
    public static HazelcastInstance connect(String cluster, List<String> join, long timeoutMillis) {
        quietLogging(Level.SEVERE); // a client's failures reach its caller as exceptions; its retries are no news
        ClientConfig c = new ClientConfig();
        c.setClusterName(cluster);
        c.setProperty("hazelcast.phone.home.enabled", "false");
        c.setProperty("hazelcast.logging.type", "jdk");
        c.getNetworkConfig().setAddresses(new ArrayList<>(join)).setRedoOperation(true)
                .setConnectionTimeout((int) Math.min(timeoutMillis, 5000));
        c.getConnectionStrategyConfig().getConnectionRetryConfig().setClusterConnectTimeoutMillis(timeoutMillis)
                .setInitialBackoffMillis(200).setMaxBackoffMillis(1000);
        CompletableFuture<HazelcastInstance> client = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("hsr-cluster-connect").start(() -> {
            try {
                HazelcastInstance hz = HazelcastClient.newHazelcastClient(c);
                if (!client.complete(hz)) hz.shutdown(); // past the deadline: nobody will use it
            } catch (Throwable t) {
                client.completeExceptionally(t);
            }
        });
        NoClusterException none = new NoClusterException("no member of cluster '" + cluster + "' answered at "
                + String.join(",", join) + " within " + timeoutMillis / 1000.0 + " s");
        try {
            return client.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (client.completeExceptionally(none)) throw none;
            return client.join(); // it connected just now
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IllegalStateException) throw none;
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            client.completeExceptionally(none);
            throw none;
        }
    }

    /** Parses {@code HOST:PORT[,HOST:PORT...]}; throws {@link IllegalArgumentException} naming a bad part. */
    public static List<String> parseJoin(String join) {
        if (join == null || join.isBlank()) throw new IllegalArgumentException("--join is empty: give HOST:PORT[,...]");
        List<String> out = new ArrayList<>();
        for (String part : join.split(",")) {
            String p = part.strip();
            int colon = p.lastIndexOf(':');
            if (colon <= 0 || colon == p.length() - 1) {
                throw new IllegalArgumentException("--join part '" + p + "' is not HOST:PORT");
            }
            int port;
            try {
                port = Integer.parseInt(p.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--join part '" + p + "': port '" + p.substring(colon + 1)
                        + "' is not a number");
            }
            checkPort(port, "--join port");
            out.add(p);
        }
        return out;
    }

    /** {@code count} distinct TCP ports free on this machine just now (for members started on loopback). */
    public static int[] freePorts(int count) throws java.io.IOException {
        int[] ports = new int[count];
        List<java.net.ServerSocket> open = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                java.net.ServerSocket s = new java.net.ServerSocket(0);
                open.add(s);
                ports[i] = s.getLocalPort();
            }
        } finally {
            for (java.net.ServerSocket s : open) s.close();
        }
        return ports;
    }

    public static void checkPort(int port, String what) {
        if (port < 1 || port > 65535) throw new IllegalArgumentException(what + " must be in [1, 65535], got " + port);
    }

    /** Hazelcast logs through java.util.logging: from {@code level} up, unless {@code HSR_LOG=info}. */
    private static void quietLogging(Level level) {
        Logger hz = HAZELCAST_LOG;
        if ("info".equalsIgnoreCase(System.getenv("HSR_LOG"))) {
            hz.setLevel(Level.INFO);
        } else if (hz.getLevel() == null || hz.getLevel().intValue() < level.intValue()) {
            hz.setLevel(level);
        }
    }

    /** No member of the cluster answered: a runtime failure (exit 1 in the CLI). */
    public static final class NoClusterException extends RuntimeException {
        public NoClusterException(String message) {
            super(message);
        }
    }
}
