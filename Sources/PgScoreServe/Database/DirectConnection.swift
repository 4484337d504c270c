import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// One connection outside any pool, for what must fail with a clear message instead of a
/// pool timeout: `pgscore serve` checks the database this way before it declares itself
/// ready, and `pgscore keys` does its work on one.
enum DirectConnection {
    /// Connects (within the connect timeout), runs `body`, closes; a failure to connect
    /// becomes a ``ConnectionFailure`` saying what failed.
    static func with<T: Sendable>(
        _ url: DatabaseURL, applicationName: String, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let configuration = try url.connectionConfiguration(startupParameters: [("application_name", applicationName)])
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 1, logger: logger).get()
        } catch {
            throw ConnectionFailure(description: explain(error, url: url))
        }
        do {
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// What failed, in words: the server's own message for a refused role or database,
    /// the endpoint for a refused connection, the TLS step for a handshake failure.
    static func explain(_ error: any Error, url: DatabaseURL) -> String {
        let target = "\(url.endpoint) (user \(url.username), database \(url.database), sslmode \(url.isUnixSocket ? "n/a: Unix socket" : url.sslMode.rawValue))"
        guard let psql = error as? PSQLError else {
            return "cannot connect to \(target): \(error)"
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? ""
            let message = psql.serverInfo?[.message] ?? "refused"
            return "the server at \(target) refused the connection: \(message) (SQLSTATE \(state))"
        case .sslUnsupported:
            return "the server at \(target) does not accept TLS, which sslmode=\(url.sslMode.rawValue) needs"
        case .connectionError:
            if let underlying = psql.underlying {
                if underlying is NIOSSLError || underlying is BoringSSLError {
                    return "the TLS handshake with \(target) failed: \(underlying)"
                }
                return "cannot connect to \(target): \(describe(underlying))"
            }
            return "cannot connect to \(target)"
        case .failedToAddSSLHandler:
            return "the TLS handshake with \(target) could not start: \(psql.underlying.map { "\($0)" } ?? "")"
        default:
            if let underlying = psql.underlying, underlying is NIOSSLError || underlying is BoringSSLError {
                return "the TLS handshake with \(target) failed: \(underlying)"
            }
            return "cannot connect to \(target): \(psql.code)\(psql.underlying.map { ": \(describe($0))" } ?? "")"
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first {
            return "\(first.error)"
        }
        if error is ChannelError, case .connectTimeout = error as! ChannelError {
            return "no answer within the connect timeout"
        }
        return "\(error)"
    }
}

/// `pgscore serve` at start-up: the database answers, takes our role, and has a
/// compatible pgscore extension; else one message and a non-zero exit.
enum StartupCheck {
    static func run(_ url: DatabaseURL, logger: Logger) async throws -> (extensionVersion: String, ssl: Bool) {
        let (version, ssl) = try await DirectConnection.with(url, applicationName: "pgscore serve (start-up check)", logger: logger) { connection in
            let version = try await connection.firstRow(
                "SELECT extversion FROM pg_extension WHERE extname = 'pgscore'", as: String.self)
            let ssl = try await connection.firstRow(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)", as: Bool.self)
            return (version, ssl ?? false)
        }
        guard let version else {
            throw ConnectionFailure(description: "the pgscore extension is not installed in database \(url.database) at \(url.endpoint) (CREATE EXTENSION pgscore)")
        }
        guard version.hasPrefix(GatewayVersion.compatibleExtension) else {
            throw ConnectionFailure(description: "the pgscore extension in database \(url.database) is version \(version); this daemon (\(GatewayVersion.daemon)) needs \(GatewayVersion.compatibleExtension)x")
        }
        return (version, ssl)
    }
}
