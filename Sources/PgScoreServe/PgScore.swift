import ArgumentParser
import NIOCore
import NIOPosix

/// `pgscore`: the daemon of the pgscore extension. It speaks SQL only: every endpoint
/// is a parameterized statement against the `ml` schema; the machine learning runs
/// inside PostgreSQL.
@main
struct PgScore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgscore",
        abstract: "The pgscore daemon: a REST gateway to the ml schema of a PostgreSQL database, and its training jobs and monitors.",
        discussion: """
            Every setting can also come from the environment (PGSCORE_…); a flag wins over \
            its variable. Without --database-url or PGSCORE_DATABASE_URL the connection is \
            built from PGHOST (a directory: a Unix socket), PGPORT, PGUSER, PGPASSWORD, \
            PGDATABASE, PGSSLMODE and PGSSLROOTCERT, as psql does; without a password, \
            PGPASSFILE or ~/.pgpass gives it.
            """,
        version: GatewayVersion.daemon,
        subcommands: [ServeCommand.self, KeysCommand.self]
    )

    /// Swift concurrency's jobs run on NIO's event loops instead of a separate thread
    /// pool: a request no longer hops between threads at each await (measured: the hops
    /// were a third of the daemon's CPU per prediction, mostly in the scheduler). Must run
    /// before any task is created, hence here and not in a subcommand.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if let serve = command as? ServeCommand {
                NIOSingletons.groupLoopCountSuggestion = try serve.eventLoopThreads()
            }
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Versions the daemon reports and checks.
enum GatewayVersion {
    static let daemon = "0.3.0"
    /// `/readyz` accepts an installed extension whose version starts with this.
    static let compatibleExtension = "0.3."
}
