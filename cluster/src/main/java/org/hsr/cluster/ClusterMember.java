package org.hsr.cluster;

import com.hazelcast.core.HazelcastInstance;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * One member of a sharded-cache cluster in the foreground, until killed: {@code --name N --port P --join
 * HOST:PORT[,...] [--host H]}. Prints a line containing {@code ready} on stdout once it has joined. {@code hsr cluster
 * serve} is this, with the CLI's error handling; the fault test starts it as separate processes.
 */
public final class ClusterMember {
    private ClusterMember() {}

    /** The member's address to bind: {@code host} if given, else 127.0.0.1 when every join address is loopback. */
    public static String bindHost(String host, List<String> join) {
        if (host != null) return host;
        boolean loopback = join.stream().map(a -> a.substring(0, a.lastIndexOf(':')))
                .allMatch(h -> h.equals("127.0.0.1") || h.equals("localhost"));
        return loopback ? "127.0.0.1" : null;
    }

    /** Starts the member and prints its ready line. */
    public static HazelcastInstance serve(String name, String host, int port, List<String> join) {
        ClusterSetup.checkPort(port, "--port");
        String bind = bindHost(host, join);
        checkBind(bind, port);
        HazelcastInstance hz = ClusterSetup.startMember(name, bind, port, join);
        System.out.println("hsr cluster serve: member " + hz.getCluster().getLocalMember().getAddress() + " of cluster '"
                + name + "' ready (" + hz.getCluster().getMembers().size() + " members)");
        System.out.flush();
        return hz;
    }

    /**
     * Refuses, before Hazelcast starts (which would log a SEVERE line and name its exception), a {@code host} that
     * does not resolve or is not an address of this machine, and a {@code port} already in use there: one
     * {@link IllegalArgumentException} each (exit 2 in the CLI). {@code host} null: every interface.
     */
    static void checkBind(String host, int port) {
        java.net.InetAddress addr = null;
        if (host != null) {
            try {
                addr = java.net.InetAddress.getByName(host);
            } catch (java.net.UnknownHostException e) {
                throw new IllegalArgumentException("--host " + host + " is not a known host name or address");
            }
            try {
                if (!addr.isAnyLocalAddress() && java.net.NetworkInterface.getByInetAddress(addr) == null) {
                    throw new IllegalArgumentException("--host " + host + " (" + addr.getHostAddress()
                            + ") is not an address of this machine");
                }
            } catch (java.net.SocketException e) {
                // the interfaces cannot be listed: let the bind below decide
            }
        }
        try (java.net.ServerSocket s = new java.net.ServerSocket()) {
            s.setReuseAddress(true); // as Hazelcast binds: a port in TIME_WAIT is free
            s.bind(new java.net.InetSocketAddress(addr, port));
        } catch (java.net.BindException e) {
            throw new IllegalArgumentException("--port " + port + " is in use on " + (host == null ? "this machine" : host)
                    + " (" + e.getMessage() + ")");
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot listen on " + (host == null ? "" : host) + ":" + port + ": "
                    + e.getMessage());
        }
    }

    public static void main(String[] args) throws InterruptedException {
        String name = null, host = null, join = null;
        int port = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--name" -> name = args[i + 1];
                case "--host" -> host = args[i + 1];
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--join" -> join = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (name == null || join == null) throw new IllegalArgumentException("usage: --name N --port P --join HOST:PORT[,...]");
        HazelcastInstance hz = serve(name, host, port, ClusterSetup.parseJoin(join));
        awaitShutdown(hz);
        System.exit(1); // the member stopped on its own (out of memory, split from the cluster): not a clean end
    }

    /**
     * Blocks until the member has shut down: never, until the process is killed (Hazelcast's shutdown hook leaves
     * the cluster gracefully on SIGTERM), unless the member stops itself (an out-of-memory error shuts it down), so
     * that a process is never left running without its member.
     */
    public static void awaitShutdown(HazelcastInstance hz) throws InterruptedException {
        CountDownLatch down = new CountDownLatch(1);
        hz.getLifecycleService().addLifecycleListener(e -> {
            if (e.getState() == com.hazelcast.core.LifecycleEvent.LifecycleState.SHUTDOWN) down.countDown();
        });
        if (!hz.getLifecycleService().isRunning()) return;
        down.await();
    }
}
