import Foundation
import NIOSSL
import PostgresNIO

/// Connection settings parsed from a `postgres://` URL or from libpq's variables, with
/// libpq's meaning. Hand-written because PostgresNIO 1.33.2 parses no URL or conninfo
/// (only postgres-kit does, which is not a dependency, and it knows neither `allow`,
/// `verify-*`, socket directories nor `.pgpass`).
struct DatabaseURL: Equatable, Sendable, CustomStringConvertible {
    /// libpq's sslmode. `allow` is served as `prefer`: PostgresNIO cannot retry a
    /// refused plain connection with TLS, and both connect to any server that accepts
    /// either; they differ only in which one a server that takes both gets.
    enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// a host name or address, or (starting with `/`) a Unix socket directory
    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String
    var sslMode: SSLMode
    /// root certificates for verify-ca / verify-full (sslrootcert, PGSSLROOTCERT)
    var sslRootCert: String?

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    init(host: String, port: Int, username: String, password: String?, database: String,
         sslMode: SSLMode, sslRootCert: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }

    /// `postgres://user:password@host:port/db?sslmode=…&sslrootcert=…&host=/socket/dir`
    init(parsing text: String, environment env: [String: String] = ProcessEnvironment.current) throws {
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw ParseError(description: "database URL must look like postgres://user@host:port/database, got \"\(Self.redacted(text))\"")
        }
        var host = components.host?.removingPercentEncoding ?? components.host ?? ""
        var mode = SSLMode.prefer
        var rootCert = env["PGSSLROOTCERT"]
        var port = components.port ?? 5432
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode": mode = try Self.sslMode(value)
            case "sslrootcert": rootCert = value
            case "host": host = value              // libpq's way to give a socket directory in a URL
            case "port":
                guard let number = Int(value) else { throw ParseError(description: "port must be a number, got \"\(value)\"") }
                port = number
            default: continue
            }
        }
        guard !host.isEmpty else {
            throw ParseError(description: "database URL has no host: \"\(Self.redacted(text))\"")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let user = components.user?.removingPercentEncoding ?? env["USER"] ?? "postgres"
        self.init(
            host: host, port: port, username: user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : (database.removingPercentEncoding ?? database),
            sslMode: mode, sslRootCert: rootCert)
    }

    /// As psql: PGHOST (a directory for a Unix socket), PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE, PGSSLMODE, PGSSLROOTCERT.
    init(libpqEnvironment env: [String: String]) throws {
        let user = env["PGUSER"] ?? env["USER"] ?? "postgres"
        let host = env["PGHOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        guard let port = Int(env["PGPORT"] ?? "5432") else {
            throw ParseError(description: "PGPORT must be a number, got \"\(env["PGPORT"] ?? "")\"")
        }
        self.init(
            host: host, port: port, username: user, password: env["PGPASSWORD"],
            database: env["PGDATABASE"] ?? user, sslMode: try Self.sslMode(env["PGSSLMODE"] ?? "prefer"),
            sslRootCert: env["PGSSLROOTCERT"])
    }

    static func sslMode(_ text: String) throws -> SSLMode {
        guard let mode = SSLMode(rawValue: text) else {
            throw ParseError(description: "sslmode must be disable, allow, prefer, require, verify-ca or verify-full, got \"\(text)\"")
        }
        return mode
    }

    var isUnixSocket: Bool { host.hasPrefix("/") }

    /// libpq's socket file in the directory `host`.
    var unixSocketPath: String { (host.hasSuffix("/") ? host : host + "/") + ".s.PGSQL.\(port)" }

    /// Where the server is, for messages.
    var endpoint: String { isUnixSocket ? unixSocketPath : "\(host):\(port)" }

    /// Never prints the password.
    var description: String {
        isUnixSocket
            ? "postgres://\(username)@/\(database)?host=\(host)&port=\(port)"
            : "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    /// libpq's default root certificate file.
    static func defaultRootCert(environment env: [String: String]) -> String {
        (env["HOME"] ?? "") + "/.postgresql/root.crt"
    }

    /// The TLS settings of the mode, and whether TLS is required (else preferred); nil:
    /// no TLS. prefer and require encrypt without looking at the certificate (libpq's
    /// meaning: they protect against eavesdropping, not against a man in the middle);
    /// verify-ca checks the chain, verify-full the host name too.
    func tls(environment env: [String: String] = ProcessEnvironment.current) -> (configuration: TLSConfiguration, required: Bool)? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable:
            return nil
        case .allow, .prefer, .require:
            configuration.certificateVerification = .none
        case .verifyCA, .verifyFull:
            configuration.certificateVerification = sslMode == .verifyCA ? .noHostnameVerification : .fullVerification
            configuration.trustRoots = .file(sslRootCert ?? Self.defaultRootCert(environment: env))
        }
        return (configuration, ![.allow, .prefer].contains(sslMode))
    }

    /// The pool's configuration; `startupParameters` are sent with every new connection.
    func clientConfiguration(maximumConnections: Int, startupParameters: [(String, String)]) throws -> PostgresClient.Configuration {
        let password = try resolvedPassword()
        var configuration: PostgresClient.Configuration
        if isUnixSocket {
            configuration = .init(unixSocketPath: unixSocketPath, username: username, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS = self.tls().map { $0.required ? .require($0.configuration) : .prefer($0.configuration) } ?? .disable
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
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
        configuration.options.additionalStartupParameters = startupParameters + keepAliveParameters
        return configuration
    }

    /// One connection outside a pool (the start-up check, `pgscore keys`): its errors
    /// say what failed, where a pool only times out.
    func connectionConfiguration(startupParameters: [(String, String)]) throws -> PostgresConnection.Configuration {
        let password = try resolvedPassword()
        var configuration: PostgresConnection.Configuration
        if isUnixSocket {
            configuration = .init(unixSocketPath: unixSocketPath, username: username, password: password, database: database)
        } else {
            var tls = PostgresConnection.Configuration.TLS.disable
            if let (settings, required) = self.tls() {
                do {
                    let context = try NIOSSLContext(configuration: settings)
                    tls = required ? .require(context) : .prefer(context)
                } catch {
                    throw ConnectionFailure(description: "the TLS settings for sslmode=\(sslMode.rawValue) could not be loaded (root certificate \(sslRootCert ?? Self.defaultRootCert(environment: ProcessEnvironment.current))): \(error)")
                }
            }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = startupParameters + keepAliveParameters
        return configuration
    }

    /// TCP keep-alive probes from the server, so that a daemon host gone silent releases
    /// its backends (PostgresNIO does not expose its own sockets' options; on the daemon's
    /// side a connection that stops answering is closed at the request's deadline, see
    /// Database.withConnection). Not for a Unix socket, where the server refuses them.
    private var keepAliveParameters: [(String, String)] {
        isUnixSocket ? [] : [("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3")]
    }

    /// The password given, else the one `.pgpass` has for this connection.
    func resolvedPassword(environment env: [String: String] = ProcessEnvironment.current) throws -> String? {
        if let password { return password }
        return PassFile.password(for: self, environment: env)
    }
}

/// The database could not be reached or refused us; says what failed.
struct ConnectionFailure: Error, CustomStringConvertible {
    let description: String
}
