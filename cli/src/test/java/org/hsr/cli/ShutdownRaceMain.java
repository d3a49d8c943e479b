package org.hsr.cli;

/**
 * A child JVM for {@link SignalsAndLauncherTest}: runs {@link HsrMain#main} while the JVM's shutdown is under way, the
 * state a SIGINT in the first half second of a run leaves it in, deterministically. The shutdown (System.exit 130,
 * what the JVM does on SIGINT) starts first; a hook then starts the CLI on its own thread and gives it 3 s.
 */
final class ShutdownRaceMain {
    private ShutdownRaceMain() {}

    public static void main(String[] args) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Thread cli = new Thread(() -> HsrMain.main(args), "cli-during-shutdown");
            cli.setDaemon(true);
            cli.start();
            try {
                cli.join(3000);
            } catch (InterruptedException ignored) {
                // the JVM is exiting anyway
            }
        }));
        System.exit(130);
    }
}
