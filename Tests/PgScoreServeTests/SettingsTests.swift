import ArgumentParser
import Testing

@testable import PgScoreServe

@Suite struct SettingsTests {
    @Test func parsesADatabaseURL() throws {
        let url = try DatabaseURL(parsing: "postgres://app:s%40cret@db.local:6543/scores?sslmode=require")
        #expect(url == DatabaseURL(host: "db.local", port: 6543, username: "app", password: "s@cret", database: "scores", sslMode: .require))
        #expect(!url.description.contains("cret"))
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(parsing: "mysql://x@y/z") }
        #expect(throws: DatabaseURL.ParseError.self) { try DatabaseURL(parsing: "postgres://u@h/d?sslmode=maybe") }
    }

    @Test func buildsTheURLFromLibpqVariables() {
        let url = DatabaseURL(libpqEnvironment: ["PGHOST": "127.0.0.1", "PGPORT": "55432", "PGUSER": "pgscore", "PGDATABASE": "gw"])
        #expect(url == DatabaseURL(host: "127.0.0.1", port: 55432, username: "pgscore", password: nil, database: "gw", sslMode: .prefer))
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

    @Test func thePoolOpensConnectionsOnDemand() {
        // minimum = maximum reaches a precondition of PostgresNIO 1.33.2's pool after a restart
        let options = DatabaseURL(host: "h", port: 1, username: "u", password: nil, database: "d", sslMode: .disable)
            .clientConfiguration(maximumConnections: 4, startupParameters: []).options
        #expect(options.minimumConnections == 0 && options.maximumConnections == 4)
    }

    @Test func rejectsBadSettings() throws {
        #expect(throws: (any Error).self) { try ServeCommand.parse([]).settings(environment: ["PGSCORE_PORT": "http"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--pool-size", "0"]).settings(environment: [:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--log-level", "loud"]).settings(environment: [:]) }
    }
}
