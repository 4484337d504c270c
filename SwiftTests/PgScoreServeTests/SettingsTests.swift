import ArgumentParser
import Foundation
import NIOSSL
import Testing

@testable import PgScoreServe

@Suite struct SettingsTests {
    @Test func parsesADatabaseURL() throws {
        let url = try DatabaseURL(parsing: "postgres://app:s%40cret@db.local:6543/scores?sslmode=require", environment: [:])
        #expect(url == DatabaseURL(host: "db.local", port: 6543, username: "app", password: "s@cret", database: "scores", sslMode: .require))
        #expect(!url.description.contains("cret"))
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(parsing: "mysql://x@y/z") }
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(parsing: "postgres://u@h/d?sslmode=maybe") }
    }

    @Test func parsesAMultiHostURLAsLibpqDoes() throws {
        let url = try DatabaseURL(parsing: "postgres://app:pw@db1:5433,db2,[::1]:5435/scores?target_session_attrs=read-write&sslmode=disable", environment: [:])
        #expect(url.hosts == [.init(host: "db1", port: 5433), .init(host: "db2", port: 5432), .init(host: "::1", port: 5435)])
        #expect(url.host == "db1" && url.port == 5433 && url.targetSessionAttrs == .readWrite && url.choosesAServer)
        #expect(url.username == "app" && url.password == "pw" && url.database == "scores" && url.sslMode == .disable)
        #expect(url.at(url.hosts[2]).endpoint == "::1:5435" && url.at(url.hosts[2]).hosts.count == 1)
        #expect(!url.description.contains("pw") && url.description.contains("host=db1,db2,::1&port=5433,5432,5435"))
        #expect(!DatabaseURL.redacted("postgres://u:secret@h1:1,h2:2/d").contains("secret"))
        #expect(DatabaseURL.redacted("postgres://u:secret@h1:1,h2:2/d").contains("@h1:1,h2:2/d"))
        // host= and port= lists in the query: one port for all, or one per host
        let query = try DatabaseURL(parsing: "postgres://u@/d?host=a,b&port=7,8&target_session_attrs=prefer-standby", environment: [:])
        #expect(query.hosts == [.init(host: "a", port: 7), .init(host: "b", port: 8)] && query.targetSessionAttrs == .preferStandby)
        let onePort = try DatabaseURL(parsing: "postgres://u@/d?host=a,b&port=9", environment: [:])
        #expect(onePort.hosts.map(\.port) == [9, 9])
        let single = try DatabaseURL(parsing: "postgres://u@h/d", environment: [:])
        #expect(!single.choosesAServer && single.hosts == [.init(host: "h", port: 5432)])
        for bad in ["postgres://u@h1,,h2/d", "postgres://u@h1:x,h2/d", "postgres://u@/d?host=a,b&port=1,2,3",
                    "postgres://u@h1,h2/d?target_session_attrs=writable", "postgres://u@h:70000/d"] {
            #expect(throws: DatabaseURL.ParseError.self, "\(bad)") { try DatabaseURL(parsing: bad, environment: [:]) }
        }
    }

    @Test func libpqHostListsInTheEnvironment() throws {
        let url = try DatabaseURL(libpqEnvironment: ["PGHOST": "127.0.0.1,127.0.0.1", "PGPORT": "56433,56434",
                                                     "PGTARGETSESSIONATTRS": "read-write"])
        #expect(url.hosts == [.init(host: "127.0.0.1", port: 56433), .init(host: "127.0.0.1", port: 56434)])
        #expect(url.targetSessionAttrs == .readWrite)
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(libpqEnvironment: ["PGHOST": "a,b", "PGPORT": "1,2,3"]) }
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(libpqEnvironment: ["PGTARGETSESSIONATTRS": "primary-ish"]) }
    }

    @Test func targetSessionAttrsAsLibpqDefinesThem() {
        typealias A = DatabaseURL.TargetSessionAttrs
        // (read_only, in_recovery): a primary, a standby, a primary with default_transaction_read_only
        let primary = (false, false), standby = (true, true), readOnlyPrimary = (true, false)
        func accepts(_ a: A, _ s: (Bool, Bool), lenient: Bool = false) -> Bool { a.accepts(readOnly: s.0, inRecovery: s.1, lenient: lenient) }
        #expect(accepts(.any, primary) && accepts(.any, standby))
        #expect(accepts(.readWrite, primary) && !accepts(.readWrite, standby) && !accepts(.readWrite, readOnlyPrimary))
        #expect(!accepts(.readOnly, primary) && accepts(.readOnly, standby) && accepts(.readOnly, readOnlyPrimary))
        #expect(accepts(.primary, primary) && accepts(.primary, readOnlyPrimary) && !accepts(.primary, standby))
        #expect(accepts(.standby, standby) && !accepts(.standby, readOnlyPrimary))
        #expect(accepts(.preferStandby, standby) && !accepts(.preferStandby, primary) && accepts(.preferStandby, primary, lenient: true))
    }

    @Test func buildsTheURLFromLibpqVariables() throws {
        let url = try DatabaseURL(libpqEnvironment: ["PGHOST": "127.0.0.1", "PGPORT": "55432", "PGUSER": "pgscore", "PGDATABASE": "gw"])
        #expect(url == DatabaseURL(host: "127.0.0.1", port: 55432, username: "pgscore", password: nil, database: "gw", sslMode: .prefer))
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(libpqEnvironment: ["PGSSLMODE": "sometimes"]) }
    }

    @Test func everySSLModeOfLibpq() throws {
        for mode in ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] {
            let url = try DatabaseURL(parsing: "postgres://u@h/d?sslmode=\(mode)&sslrootcert=/r.crt", environment: [:])
            #expect(url.sslMode.rawValue == mode && url.sslRootCert == "/r.crt")
            let tls = url.tls(environment: [:])
            #expect((tls == nil) == (mode == "disable"))
            #expect(tls?.required == (["require", "verify-ca", "verify-full"].contains(mode) ? true : (mode == "disable" ? nil : false)))
            let checks = tls?.configuration.certificateVerification
            #expect(checks == (mode == "disable" ? nil : mode == "verify-full" ? .fullVerification : mode == "verify-ca" ? .noHostnameVerification : CertificateVerification.none))
        }
        let defaulted = try DatabaseURL(parsing: "postgres://u@h/d?sslmode=verify-full", environment: ["HOME": "/home/x"])
        #expect(defaulted.tls(environment: ["HOME": "/home/x"])?.configuration.trustRoots == .file("/home/x/.postgresql/root.crt"))
    }

    @Test func aSocketDirectoryInPGHOST() throws {
        let url = try DatabaseURL(libpqEnvironment: ["PGHOST": "/run/postgresql", "PGPORT": "5433"])
        #expect(url.isUnixSocket && url.unixSocketPath == "/run/postgresql/.s.PGSQL.5433")
        #expect(try url.clientConfiguration(maximumConnections: 1, startupParameters: []).unixSocketPath == "/run/postgresql/.s.PGSQL.5433")
        let fromURL = try DatabaseURL(parsing: "postgres://u@/d?host=/tmp/s&port=7", environment: [:])
        #expect(fromURL.unixSocketPath == "/tmp/s/.s.PGSQL.7")
    }

    @Test func thePasswordFileAsLibpqReadsIt() throws {
        let path = "/tmp/pgscore-settings-test-\(getpid()).pgpass"
        defer { unlink(path) }
        let text = "# a comment\nother:5432:*:*:no\n*:5432:d\\:b:u:pa\\:ss\\\\w\nlocalhost:*:*:u:socket\n"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
        let env = ["PGPASSFILE": path]
        let tcp = DatabaseURL(host: "h", port: 5432, username: "u", password: nil, database: "d:b", sslMode: .prefer)
        #expect(PassFile.password(for: tcp, environment: env) == "pa:ss\\w")
        var socket = tcp
        socket.host = "/run/postgresql"
        socket.database = "other"
        #expect(PassFile.password(for: socket, environment: env) == "socket")
        var given = tcp
        given.password = "given"
        #expect(try given.resolvedPassword(environment: env) == "given")
        chmod(path, 0o644)
        #expect(PassFile.password(for: tcp, environment: env) == nil)
    }

    @Test func flagsWinOverEnvironmentOverDefaults() throws {
        let command = try ServeCommand.parse(["--port", "9000", "--open-predict"])
        let env = ["PGSCORE_PORT": "7000", "PGSCORE_POOL_SIZE": "3", "PGSCORE_DATABASE_URL": "postgres://u@h:1/d"]
        let settings = try command.settings(environment: env)
        #expect(settings.port == 9000)
        #expect(settings.poolSize == 3)
        #expect(settings.openPredict)
        #expect(settings.host == "127.0.0.1")
        #expect(settings.statementTimeoutMs == 5000 && settings.queueTimeoutMs == 2000 && settings.maxBodyBytes == 1_048_576)
        #expect(settings.databaseURL.port == 1)
    }

    @Test func deadlinesAndConnectionLimits() throws {
        let defaults = try ServeCommand.parse([]).settings(environment: [:])
        #expect(defaults.requestTimeout == .seconds(10) && defaults.drainTimeout == .seconds(15))
        #expect(defaults.limits.headerTimeout == .seconds(10) && defaults.limits.bodyTimeout == .seconds(30))
        #expect(defaults.limits.idleTimeout == .seconds(60) && defaults.limits.maxConnections == 1024)
        let given = try ServeCommand.parse(["--request-timeout", "2.5", "--max-connections", "8"])
            .settings(environment: ["PGSCORE_HEADER_TIMEOUT": "1"])
        #expect(given.requestTimeout == .milliseconds(2500) && given.limits.maxConnections == 8)
        #expect(given.limits.headerTimeout == .seconds(1))
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--request-timeout", "0"]).settings(environment: [:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--max-connections", "0"]).settings(environment: [:]) }
    }

    @Test func thePoolOpensConnectionsOnDemand() throws {
        // minimum = maximum reaches a precondition of PostgresNIO 1.33.2's pool after a restart
        let options = try DatabaseURL(host: "h", port: 1, username: "u", password: "p", database: "d", sslMode: .disable)
            .clientConfiguration(maximumConnections: 4, startupParameters: []).options
        #expect(options.minimumConnections == 0 && options.maximumConnections == 4)
    }

    @Test func backoffGrowsWithJitterUpToItsCap() {
        var backoff = RetryBackoff(initial: .milliseconds(100), cap: .seconds(1))
        let waits = (0..<12).map { _ in backoff.next() }
        #expect(waits.allSatisfy { $0 >= .milliseconds(10) && $0 <= .seconds(1) })
        #expect(waits[0] <= .milliseconds(100) && waits.suffix(4).allSatisfy { $0 >= .milliseconds(100) })
        backoff.reset()
        #expect(backoff.next() <= .milliseconds(100))
    }

    @Test func rejectsBadSettings() throws {
        #expect(throws: (any Error).self) { try ServeCommand.parse([]).settings(environment: ["PGSCORE_PORT": "http"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--pool-size", "0"]).settings(environment: [:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--log-level", "loud"]).settings(environment: [:]) }
    }
}
