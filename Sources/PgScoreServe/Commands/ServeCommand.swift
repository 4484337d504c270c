import ArgumentParser
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// `pgscore serve`: the REST gateway, the connection pools and the training runner as
/// services of one ServiceGroup. SIGTERM or SIGINT shut it down gracefully: the server
/// stops accepting, requests in flight finish, a training run in progress is cancelled
/// and recorded as failed, then the pools close.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the REST gateway (JSON in, parameterized SQL against the ml schema, JSON out).",
        discussion: """
            Endpoints are under /v1 (see openapi.yaml), plus /healthz, /readyz and /metrics.
            Keys: Authorization: Bearer <key>, made by `pgscore keys create`.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Address to listen on (env PGSCORE_HOST; default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one (env PGSCORE_PORT; default 8080).", valueName: "port"))
    var port: Int?

    @Option(name: .customLong("pool-size"),
            help: ArgumentHelp("Most PostgreSQL connections the request pool opens (env PGSCORE_POOL_SIZE; default 10).", valueName: "n"))
    var poolSize: Int?

    @Option(name: .customLong("statement-timeout-ms"),
            help: ArgumentHelp("statement_timeout of the pooled connections: a longer statement is cancelled and answered 504; 0 = none (env PGSCORE_STATEMENT_TIMEOUT_MS; default 5000). Training runs have none.", valueName: "ms"))
    var statementTimeoutMs: Int?

    @Option(name: .customLong("queue-timeout-ms"),
            help: ArgumentHelp("Longest wait for a pooled connection before answering 503 with Retry-After: the database is down or every connection is busy (env PGSCORE_QUEUE_TIMEOUT_MS; default 2000).", valueName: "ms"))
    var queueTimeoutMs: Int?

    @Option(name: .customLong("max-body-bytes"),
            help: ArgumentHelp("Largest request body accepted; a larger one is answered 413 (env PGSCORE_MAX_BODY_BYTES; default 1048576).", valueName: "bytes"))
    var maxBodyBytes: Int?

    @Flag(name: .customLong("open-predict"),
          help: "Allow predictions and feedback without an API key (env PGSCORE_OPEN_PREDICT=true). Default: every /v1 endpoint needs a key.")
    var openPredict = false

    @Option(name: .customLong("log-format"),
            help: ArgumentHelp("json (one object per line) or text (env PGSCORE_LOG_FORMAT; default json).", valueName: "format"))
    var logFormat: String?

    @Option(name: .customLong("log-level"),
            help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (env PGSCORE_LOG_LEVEL; default info).", valueName: "level"))
    var logLevel: String?

    struct Settings: Sendable {
        var databaseURL: DatabaseURL
        var host: String
        var port: Int
        var poolSize: Int
        var statementTimeoutMs: Int
        var queueTimeoutMs: Int
        var maxBodyBytes: Int
        var openPredict: Bool
        var logFormat: String
        var logLevel: Logger.Level
    }

    func settings(environment env: [String: String] = ProcessEnvironment.current) throws -> Settings {
        let settings = Settings(
            databaseURL: try database.resolve(environment: env),
            host: try Setting.value(host, env: "PGSCORE_HOST", default: "127.0.0.1", in: env),
            port: try Setting.value(port, env: "PGSCORE_PORT", default: 8080, in: env),
            poolSize: try Setting.value(poolSize, env: "PGSCORE_POOL_SIZE", default: 10, in: env),
            statementTimeoutMs: try Setting.value(statementTimeoutMs, env: "PGSCORE_STATEMENT_TIMEOUT_MS", default: 5000, in: env),
            queueTimeoutMs: try Setting.value(queueTimeoutMs, env: "PGSCORE_QUEUE_TIMEOUT_MS", default: 2000, in: env),
            maxBodyBytes: try Setting.value(maxBodyBytes, env: "PGSCORE_MAX_BODY_BYTES", default: 1_048_576, in: env),
            openPredict: try Setting.flag(openPredict, env: "PGSCORE_OPEN_PREDICT", in: env),
            logFormat: try Setting.value(logFormat, env: "PGSCORE_LOG_FORMAT", default: "json", in: env),
            logLevel: try Logger.Level(rawValue: Setting.value(logLevel, env: "PGSCORE_LOG_LEVEL", default: "info", in: env))
                .orThrow(ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical"))
        )
        guard (0...65535).contains(settings.port) else { throw ValidationError("--port must be 0...65535") }
        guard settings.poolSize >= 1 else { throw ValidationError("--pool-size must be at least 1") }
        guard settings.statementTimeoutMs >= 0 else { throw ValidationError("--statement-timeout-ms must be 0 or more") }
        guard settings.queueTimeoutMs >= 1 else { throw ValidationError("--queue-timeout-ms must be at least 1") }
        guard settings.maxBodyBytes >= 2 else { throw ValidationError("--max-body-bytes must be at least 2") }
        guard ["json", "text"].contains(settings.logFormat) else { throw ValidationError("--log-format must be json or text") }
        return settings
    }

    func run() async throws {
        let settings = try settings()
        LoggingSystem.bootstrap { label in
            if settings.logFormat == "json" {
                return JSONLogHandler(label: label, level: settings.logLevel)
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "pgscore")
        // metrics the libraries record through swift-metrics land in the same registry
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        try await Self.serve(settings, logger: logger, registry: registry)
    }

    /// Builds and runs the services until a signal (or a fatal error).
    static func serve(_ settings: Settings, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) async throws {
        let poolClient = PostgresClient(
            configuration: settings.databaseURL.clientConfiguration(
                maximumConnections: settings.poolSize,
                startupParameters: [("statement_timeout", String(settings.statementTimeoutMs)),
                                    ("application_name", "pgscore serve")]),
            backgroundLogger: logger)
        // training: one connection of its own, no statement timeout
        let trainingClient = PostgresClient(
            configuration: settings.databaseURL.clientConfiguration(
                maximumConnections: 1,
                startupParameters: [("statement_timeout", "0"), ("application_name", "pgscore serve (training)")]),
            backgroundLogger: logger)
        let metrics = GatewayMetrics(poolSize: settings.poolSize, registry: registry)
        let database = Database(client: poolClient, queueTimeout: .milliseconds(settings.queueTimeoutMs),
                                poolSize: settings.poolSize, metrics: metrics)
        let runner = TrainingRunner(database: database, trainingClient: trainingClient, metrics: metrics, logger: logger)
        let gateway = Gateway(
            database: database, authenticator: Authenticator(database: database, openPredict: settings.openPredict),
            metrics: metrics, specs: FeatureSpecCache(), training: runner, maxBodyBytes: settings.maxBodyBytes)

        let app = Application(
            router: gateway.makeRouter(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "pgscore/\(GatewayVersion.daemon)"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.info("pgscore serve listening", metadata: [
                    "address": "\(settings.host):\(port)", "database": "\(settings.databaseURL)",
                    "pool_size": "\(settings.poolSize)", "open_predict": "\(settings.openPredict)",
                ])
            },
            logger: logger)

        // Graceful shutdown runs in reverse order: the server first (requests in flight
        // finish), then the training runner, then the pools the others used.
        let group = ServiceGroup(
            configuration: .init(
                services: [poolClient, trainingClient, runner, app],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("pgscore serve stopped")
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}
