import Foundation
import PostgresNIO

/// Connection settings parsed from a `postgres://` URL or from libpq's variables.
struct DatabaseURL: Equatable, Sendable, CustomStringConvertible {
    enum SSLMode: String, Sendable { case disable, prefer, require }

    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var sslMode: SSLMode

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    init(host: String, port: Int, username: String, password: String?, database: String, sslMode: SSLMode) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    init(parsing text: String) throws {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw ParseError(description: "database URL must look like postgres://user@host:port/database, got \"\(Self.redacted(text))\"")
        }
        guard let host = components.host, !host.isEmpty else {
            throw ParseError(description: "database URL has no host: \"\(Self.redacted(text))\"")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let user = components.user ?? ProcessEnvironment.current["USER"] ?? "postgres"
        var mode = SSLMode.prefer
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value ?? "" {
            case "disable", "allow": mode = .disable
            case "prefer": mode = .prefer
            case "require", "verify-ca", "verify-full": mode = .require
            default: throw ParseError(description: "sslmode must be disable, prefer or require, got \"\(item.value ?? "")\"")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : (database.removingPercentEncoding ?? database), sslMode: mode
        )
    }

    /// As psql: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE.
    init(libpqEnvironment env: [String: String]) {
        let user = env["PGUSER"] ?? env["USER"] ?? "postgres"
        let mode: SSLMode
        switch env["PGSSLMODE"] ?? "prefer" {
        case "disable", "allow": mode = .disable
        case "require", "verify-ca", "verify-full": mode = .require
        default: mode = .prefer
        }
        self.init(
            host: env["PGHOST"].flatMap { $0.hasPrefix("/") || $0.isEmpty ? nil : $0 } ?? "127.0.0.1",
            port: env["PGPORT"].flatMap(Int.init) ?? 5432,
            username: user, password: env["PGPASSWORD"],
            database: env["PGDATABASE"] ?? user, sslMode: mode
        )
    }

    /// Never prints the password.
    var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    private var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    /// The pool's configuration; `startupParameters` are sent with every new connection.
    func clientConfiguration(maximumConnections: Int, startupParameters: [(String, String)]) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        // Connections are opened on demand (none kept open without demand), no keep-alive
        // pings. minimumConnections must stay below maximumConnections (PostgresNIO
        // documents it; 0 here): with minimum = maximum, PostgresNIO 1.33.2 traps
        // (precondition in ConnectionGroup.createNewDemandConnectionIfPossible) when,
        // after the server came back from a restart, fewer connections exist than the
        // minimum and a request finds none idle; connections that failed to reconnect
        // while the server was down are dropped, not refilled. With a minimum of 0 that
        // precondition cannot fail. An idle connection is closed after 5 minutes.
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = .seconds(300)
        configuration.options.keepAliveBehavior = nil
        configuration.options.connectTimeout = .seconds(5)
        // TCP keep-alive probes from the server, so that a daemon host gone silent
        // releases its backends (PostgresNIO does not expose its own sockets' options;
        // on the daemon's side a connection that stops answering is closed at the
        // request's deadline, see Database.withConnection).
        configuration.options.additionalStartupParameters = startupParameters + [
            ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
        ]
        return configuration
    }
}
