import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the database is: shared by `serve` and `keys`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL, postgres://user[:password]@host[:port][,host2[:port2]...]/database[?sslmode=disable|allow|prefer|require|verify-ca|verify-full&sslrootcert=path&host=/socket/dir|h1,h2&port=p|p1,p2&target_session_attrs=any|read-write|read-only|primary|standby|prefer-standby] (env PGSCORE_DATABASE_URL; default from PGHOST (a directory: Unix socket; a comma-separated list), PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGTARGETSESSIONATTRS, as psql; no password: PGPASSFILE or ~/.pgpass). Several hosts: tried in order for the first that fits target_session_attrs (libpq's meaning); when that server goes or stops taking writes (a failover), the daemon moves to the one that fits then, and retries predictions there within --request-timeout. sslmode default prefer (TLS first; allow: plain first): prefer and require encrypt without checking the certificate (require checks the chain when a root certificate file exists), verify-ca checks it against sslrootcert (default ~/.postgresql/root.crt), verify-full also the host name.",
            valueName: "url"
        )
    )
    var databaseURL: String?

    func resolve(environment env: [String: String] = ProcessEnvironment.current) throws -> DatabaseURL {
        if let url = databaseURL ?? env["PGSCORE_DATABASE_URL"] {
            return try DatabaseURL(parsing: url)
        }
        return try DatabaseURL(libpqEnvironment: env)
    }
}

enum ProcessEnvironment {
    /// The process environment as a dictionary.
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// A setting given by flag, else by environment variable, else by default.
enum Setting {
    static func value<T: LosslessStringConvertible>(
        _ flag: T?, env name: String, default fallback: T,
        in env: [String: String] = ProcessEnvironment.current
    ) throws -> T {
        if let flag { return flag }
        guard let raw = env[name] else { return fallback }
        guard let value = T(raw) else {
            throw ValidationError("environment variable \(name)=\"\(raw)\" is not a valid \(T.self)")
        }
        return value
    }

    /// A positive number of seconds (fractions allowed), as a Duration.
    static func seconds(
        _ flag: Double?, _ name: String, env variable: String, default fallback: Double,
        in env: [String: String] = ProcessEnvironment.current
    ) throws -> Duration {
        let seconds = try value(flag, env: variable, default: fallback, in: env)
        guard seconds > 0, seconds <= 86_400 else { throw ValidationError("\(name) must be more than 0 and at most 86400 seconds") }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    static func flag(_ flag: Bool, env name: String, in env: [String: String] = ProcessEnvironment.current) throws -> Bool {
        if flag { return true }
        guard let raw = env[name] else { return false }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default: throw ValidationError("environment variable \(name)=\"\(raw)\" is not a boolean (true/false)")
        }
    }
}
