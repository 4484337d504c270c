import Foundation
import NIOSSL
import PostgresNIO

/// Connection settings parsed from a `postgres://` URL or from libpq's variables, with
/// libpq's meaning. Hand-written because PostgresNIO 1.33.2 parses no URL or conninfo
/// (only postgres-kit does, which is not a dependency, and it knows neither `allow`,
/// `verify-*`, socket directories nor `.pgpass`).
struct DatabaseURL: Equatable, Sendable, CustomStringConvertible {
    /// libpq's sslmode. `allow` (plain first, TLS when the server refuses plain) is
    /// decided once, by the direct connection of the start-up check or of `pgscore keys`
    /// (``DirectConnection/with(_:applicationName:logger:_:)``), which resolves it to
    /// `disable` or `require` for the pools: PostgresNIO retries no refused connection
    /// with TLS.
    enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// a host name or address, or (starting with `/`) a Unix socket directory: the
    /// first of `hosts`, or the one server a connection is made to
    var host: String
    var port: Int
    /// every server of a multi-host URL (libpq's `h1:p1,h2:p2`, `host=a,b&port=1,2`, or
    /// PGHOST/PGPORT lists), tried in order for one that fits `targetSessionAttrs`
    var hosts: [Endpoint]
    var targetSessionAttrs: TargetSessionAttrs
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
         sslMode: SSLMode, sslRootCert: String? = nil, hosts: [Endpoint]? = nil,
         targetSessionAttrs: TargetSessionAttrs = .any) {
        let hosts = hosts ?? [Endpoint(host: host, port: port)]
        self.host = hosts[0].host
        self.port = hosts[0].port
        self.hosts = hosts
        self.targetSessionAttrs = targetSessionAttrs
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }

    /// `postgres://user:password@host:port[,host2:port2...]/db?sslmode=…&sslrootcert=…&host=…&port=…&target_session_attrs=…`
    init(parsing text: String, environment env: [String: String] = ProcessEnvironment.current) throws {
        guard let (placeheld, hostList) = Self.splitAuthority(text),
              let components = URLComponents(string: placeheld),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw ParseError(description: "database URL must look like postgres://user@host:port/database, got \"\(Self.redacted(text))\"")
        }
        var hosts = hostList.isEmpty ? [] : try Self.parseHostList(hostList, portsAllowed: true)
        var mode = SSLMode.prefer
        var rootCert = env["PGSSLROOTCERT"]
        var ports: String?
        var attrs = TargetSessionAttrs.any
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode": mode = try Self.sslMode(value)
            case "sslrootcert": rootCert = value
            // libpq's way to give a socket directory (or a host list) in a URL
            case "host": hosts = try Self.parseHostList(value, portsAllowed: false)
            case "port": ports = value
            case "target_session_attrs": attrs = try TargetSessionAttrs.parse(value)
            default: continue
            }
        }
        guard !hosts.isEmpty else {
            throw ParseError(description: "database URL has no host: \"\(Self.redacted(text))\"")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let user = components.user?.removingPercentEncoding ?? env["USER"] ?? "postgres"
        let endpoints = try Self.endpoints(hosts, ports: ports)
        self.init(
            host: endpoints[0].host, port: endpoints[0].port, username: user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: database.isEmpty ? user : (database.removingPercentEncoding ?? database),
            sslMode: mode, sslRootCert: rootCert, hosts: endpoints, targetSessionAttrs: attrs)
    }

    /// As psql: PGHOST (a directory for a Unix socket; a comma-separated list for several
    /// servers), PGPORT (one port, or one per host), PGUSER, PGPASSWORD, PGDATABASE,
    /// PGSSLMODE, PGSSLROOTCERT, PGTARGETSESSIONATTRS.
    init(libpqEnvironment env: [String: String]) throws {
        let user = env["PGUSER"] ?? env["USER"] ?? "postgres"
        let hosts = try Self.parseHostList(env["PGHOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1", portsAllowed: false)
        let endpoints: [Endpoint]
        do {
            endpoints = try Self.endpoints(hosts, ports: env["PGPORT"])
        } catch let error as ParseError {
            throw ParseError(description: "PGPORT: \(error.description)")
        }
        self.init(
            host: endpoints[0].host, port: endpoints[0].port, username: user, password: env["PGPASSWORD"],
            database: env["PGDATABASE"] ?? user, sslMode: try Self.sslMode(env["PGSSLMODE"] ?? "prefer"),
            sslRootCert: env["PGSSLROOTCERT"], hosts: endpoints,
            targetSessionAttrs: try TargetSessionAttrs.parse(env["PGTARGETSESSIONATTRS"] ?? "any"))
    }

    /// These settings for one server of the list.
    func at(_ endpoint: Endpoint) -> DatabaseURL {
        var one = self
        one.host = endpoint.host
        one.port = endpoint.port
        one.hosts = [endpoint]
        return one
    }

    /// Several servers, or a kind of session to check for: the daemon picks the server
    /// and follows it (``ServerFollower``).
    var choosesAServer: Bool { hosts.count > 1 || targetSessionAttrs != .any }

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
        let attrs = targetSessionAttrs == .any ? "" : "&target_session_attrs=\(targetSessionAttrs.rawValue)"
        if hosts.count > 1 {
            return "postgres://\(username)@/\(database)?host=\(hosts.map(\.host).joined(separator: ","))&port=\(hosts.map { String($0.port) }.joined(separator: ","))&sslmode=\(sslMode.rawValue)\(attrs)"
        }
        return isUnixSocket
            ? "postgres://\(username)@/\(database)?host=\(host)&port=\(port)\(attrs)"
            : "postgres://\(username)@\(Endpoint(host: host, port: port))/\(database)?sslmode=\(sslMode.rawValue)\(attrs)"
    }

    static func redacted(_ text: String) -> String {
        guard let (placeheld, hostList) = splitAuthority(text), var components = URLComponents(string: placeheld),
              components.password != nil else { return text }
        components.password = "***"
        return components.string?.replacingOccurrences(of: "@placeholder", with: "@" + hostList) ?? text
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
        case .require where FileManager.default.fileExists(atPath: sslRootCert ?? Self.defaultRootCert(environment: env)):
            // libpq: "if a root CA file exists, the behavior of sslmode=require is the same as verify-ca"
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .file(sslRootCert ?? Self.defaultRootCert(environment: env))
        case .allow, .prefer, .require:
            // (allow tries plain first: see SSLMode; here it is the TLS retry's settings)
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
