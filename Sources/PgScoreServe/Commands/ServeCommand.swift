import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// `pgscore serve`: the REST gateway, the connection pools and the job runner (training
/// queue, schedules, event-driven training, monitors) as services of one ServiceGroup.
/// SIGTERM or SIGINT shut it down gracefully: the server stops accepting, requests in
/// flight finish, a training run in progress is cancelled and recorded as failed (and
/// retried later by any daemon), then the pools close; past `--drain-timeout` what is
/// still running is cancelled (requests answered 503, their connections closed).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the REST gateway and the job runner (training queue, schedules, event-driven training, monitors).",
        discussion: """
            Endpoints are under /v1 (see openapi.yaml), plus /healthz, /readyz and /metrics.
            Keys: Authorization: Bearer <key>, made by `pgscore keys create`.
            Any number of daemons may serve one database: each queued run, schedule slot
            and monitor check is taken by exactly one of them.
            A write (prediction, feedback, train request, deploy, ...) is answered only
            after PostgreSQL confirmed its COMMIT; a failed commit is a 503, never a 2xx.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Address to listen on (env PGSCORE_HOST; default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one (env PGSCORE_PORT; default 8080).", valueName: "port"))
    var port: Int?

    @Option(name: .customLong("pool-size"),
            help: ArgumentHelp("Most PostgreSQL connections the request pool opens, on demand; one idle for 5 minutes is closed (env PGSCORE_POOL_SIZE; default 10).", valueName: "n"))
    var poolSize: Int?

    @Option(name: .customLong("statement-timeout-ms"),
            help: ArgumentHelp("statement_timeout of the pooled connections: a longer statement is cancelled and answered 504; 0 = none (env PGSCORE_STATEMENT_TIMEOUT_MS; default 5000). Training runs have none.", valueName: "ms"))
    var statementTimeoutMs: Int?

    @Option(name: .customLong("queue-timeout-ms"),
            help: ArgumentHelp("Longest wait for a pooled connection (never past --request-timeout) before answering 503 with Retry-After: the database is down or every connection is busy (env PGSCORE_QUEUE_TIMEOUT_MS; default 2000).", valueName: "ms"))
    var queueTimeoutMs: Int?

    @Option(name: .customLong("request-timeout"),
            help: ArgumentHelp("One deadline per request, from its arrival: waiting for a connection, the statements and the COMMIT. Past it the request is answered 504 (503 if no connection came) and a connection still working on it is closed and replaced: its server may have stopped answering (env PGSCORE_REQUEST_TIMEOUT; default 10).", valueName: "seconds"))
    var requestTimeout: Double?

    @Option(name: .customLong("header-timeout"),
            help: ArgumentHelp("Longest time from the first byte of a request to the end of its headers; a slower client gets 408 and is disconnected (env PGSCORE_HEADER_TIMEOUT; default 10).", valueName: "seconds"))
    var headerTimeout: Double?

    @Option(name: .customLong("body-timeout"),
            help: ArgumentHelp("Longest time from the end of the headers to the end of the body; a slower client is disconnected (env PGSCORE_BODY_TIMEOUT; default 30).", valueName: "seconds"))
    var bodyTimeout: Double?

    @Option(name: .customLong("idle-timeout"),
            help: ArgumentHelp("A keep-alive connection with no request for this long is closed (env PGSCORE_IDLE_TIMEOUT; default 60).", valueName: "seconds"))
    var idleTimeout: Double?

    @Option(name: .customLong("max-connections"),
            help: ArgumentHelp("Most HTTP connections open at once; one more is answered 503 with Retry-After and closed (env PGSCORE_MAX_CONNECTIONS; default 1024).", valueName: "n"))
    var maxConnections: Int?

    @Option(name: .customLong("drain-timeout"),
            help: ArgumentHelp("At SIGTERM or SIGINT, longest wait for requests in flight and a training run being cancelled; then they are cut off and the process exits (env PGSCORE_DRAIN_TIMEOUT; default 15).", valueName: "seconds"))
    var drainTimeout: Double?

    @Option(name: .customLong("synchronous-commit"),
            help: ArgumentHelp("on: a prediction (any write) is answered once its COMMIT is confirmed and flushed to disk. off: answered once committed in memory; faster under load (tools/bench_gateway.sh measures it), but a crash of the PostgreSQL server (not of the daemon) can lose the last ~0.6 s of logged predictions (env PGSCORE_SYNCHRONOUS_COMMIT; default on).", valueName: "on|off"))
    var synchronousCommit: String?

    @Option(name: .customLong("max-body-bytes"),
            help: ArgumentHelp("Largest request body accepted; a larger one is answered 413 (env PGSCORE_MAX_BODY_BYTES; default 1048576).", valueName: "bytes"))
    var maxBodyBytes: Int?

    @Option(name: .customLong("batch-max-size"),
            help: ArgumentHelp("Group commit: predictions that queue while --batch-lanes statements are in flight are scored, logged and committed together, up to this many requests per statement; 1 turns batching off (env PGSCORE_BATCH_MAX_SIZE; default 64).", valueName: "n"))
    var batchMaxSize: Int?

    @Option(name: .customLong("batch-lanes"),
            help: ArgumentHelp("Prediction statements in flight at once, each on its own pooled connection; a prediction arriving while all are busy queues for the next batch (env PGSCORE_BATCH_LANES; default: half the number of cores, at least 1, at most --pool-size: one lane gathers every queued request into one statement, and on a 2-core machine served the most).", valueName: "n"))
    var batchLanes: Int?

    @Option(name: .customLong("batch-max-wait-ms"),
            help: ArgumentHelp("How long an idle lane waits for more predictions before it sends the first; 0: a lone prediction goes at once (env PGSCORE_BATCH_MAX_WAIT_MS; default 0).", valueName: "ms"))
    var batchMaxWaitMs: Double?

    @Flag(name: .customLong("open-predict"),
          help: "Allow predictions and feedback without an API key (env PGSCORE_OPEN_PREDICT=true). Default: every /v1 endpoint needs a key.")
    var openPredict = false

    @Option(name: .customLong("tls-certificate"),
            help: ArgumentHelp("PEM certificate chain: serve HTTPS (with --tls-key; env PGSCORE_TLS_CERTIFICATE).", valueName: "path"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"),
            help: ArgumentHelp("PEM private key of --tls-certificate (env PGSCORE_TLS_KEY).", valueName: "path"))
    var tlsKey: String?

    @Flag(name: .customLong("allow-plain-http"),
          help: "Serve plain HTTP on an address other than loopback (env PGSCORE_ALLOW_PLAIN_HTTP=true). Default: refused, since API keys would cross the network in clear text; use --tls-certificate/--tls-key or a TLS-terminating proxy on the same host.")
    var allowPlainHTTP = false

    @Option(name: .customLong("failed-key-limit"),
            help: ArgumentHelp("Requests with an unknown or revoked key one client address may make in 10 s; beyond it, requests with a key are answered 429 without a database look-up (env PGSCORE_FAILED_KEY_LIMIT; default 50; 0: no limit).", valueName: "n"))
    var failedKeyLimit: Int?

    @Option(name: .customLong("threads"),
            help: ArgumentHelp("Event-loop threads for HTTP, database connections and request handling (env PGSCORE_THREADS; default: the number of cores). On a small machine shared with PostgreSQL, 1 avoids cross-thread wake-ups and serves more (tools/bench_gateway.sh).", valueName: "n"))
    var threads: Int?

    @Flag(name: .customLong("no-jobs"),
          help: "Serve HTTP only: run no training, schedules or monitors here (env PGSCORE_NO_JOBS=true). Runs queued through this daemon wait for one that runs jobs.")
    var noJobs = false

    @Option(name: .customLong("worker-id"),
            help: ArgumentHelp("Name this daemon records on the runs it claims (env PGSCORE_WORKER_ID; default <hostname>:<pid>).", valueName: "name"))
    var workerID: String?

    @Option(name: .customLong("jobs-poll-ms"),
            help: ArgumentHelp("Longest wait between two looks at the training queue; NOTIFY pgscore_jobs and due schedules wake the runner sooner (env PGSCORE_JOBS_POLL_MS; default 5000).", valueName: "ms"))
    var jobsPollMs: Int?

    @Option(name: .customLong("monitor-interval-ms"),
            help: ArgumentHelp("How often ml.run_monitors is called; each monitor checks at its own period (env PGSCORE_MONITOR_INTERVAL_MS; default 1000).", valueName: "ms"))
    var monitorIntervalMs: Int?

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
        var requestTimeout: Duration
        var limits: ConnectionLimits
        var drainTimeout: Duration
        var synchronousCommit: String
        var batching: PredictionBatcher.Settings
        var openPredict: Bool
        var failedKeyLimit: Int
        var tls: (certificate: String, key: String)?
        var jobs: Bool
        var workerID: String
        var jobsPollMs: Int
        var monitorIntervalMs: Int
        var logFormat: String
        var logLevel: Logger.Level
    }

    /// Read before anything else runs: the threads are made when the first task is.
    func eventLoopThreads(environment env: [String: String] = ProcessEnvironment.current) throws -> Int {
        let threads = try Setting.value(threads, env: "PGSCORE_THREADS", default: System.coreCount, in: env)
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
        return threads
    }

    func settings(environment env: [String: String] = ProcessEnvironment.current) throws -> Settings {
        let poolSize = try Setting.value(poolSize, env: "PGSCORE_POOL_SIZE", default: 10, in: env)
        let settings = Settings(
            databaseURL: try database.resolve(environment: env),
            host: try Setting.value(host, env: "PGSCORE_HOST", default: "127.0.0.1", in: env),
            port: try Setting.value(port, env: "PGSCORE_PORT", default: 8080, in: env),
            poolSize: poolSize,
            statementTimeoutMs: try Setting.value(statementTimeoutMs, env: "PGSCORE_STATEMENT_TIMEOUT_MS", default: 5000, in: env),
            queueTimeoutMs: try Setting.value(queueTimeoutMs, env: "PGSCORE_QUEUE_TIMEOUT_MS", default: 2000, in: env),
            maxBodyBytes: try Setting.value(maxBodyBytes, env: "PGSCORE_MAX_BODY_BYTES", default: 1_048_576, in: env),
            requestTimeout: try Setting.seconds(requestTimeout, "--request-timeout", env: "PGSCORE_REQUEST_TIMEOUT", default: 10, in: env),
            limits: ConnectionLimits(
                headerTimeout: try Setting.seconds(headerTimeout, "--header-timeout", env: "PGSCORE_HEADER_TIMEOUT", default: 10, in: env),
                bodyTimeout: try Setting.seconds(bodyTimeout, "--body-timeout", env: "PGSCORE_BODY_TIMEOUT", default: 30, in: env),
                idleTimeout: try Setting.seconds(idleTimeout, "--idle-timeout", env: "PGSCORE_IDLE_TIMEOUT", default: 60, in: env),
                maxConnections: try Setting.value(maxConnections, env: "PGSCORE_MAX_CONNECTIONS", default: 1024, in: env)),
            drainTimeout: try Setting.seconds(drainTimeout, "--drain-timeout", env: "PGSCORE_DRAIN_TIMEOUT", default: 15, in: env),
            synchronousCommit: try Setting.value(synchronousCommit, env: "PGSCORE_SYNCHRONOUS_COMMIT", default: "on", in: env),
            batching: PredictionBatcher.Settings(
                maxBatch: try Setting.value(batchMaxSize, env: "PGSCORE_BATCH_MAX_SIZE", default: 64, in: env),
                lanes: try Setting.value(batchLanes, env: "PGSCORE_BATCH_LANES", default: min(max(System.coreCount / 2, 1), max(poolSize, 1)), in: env),
                maxWait: .milliseconds(try Setting.value(batchMaxWaitMs, env: "PGSCORE_BATCH_MAX_WAIT_MS", default: 0, in: env))),
            openPredict: try Setting.flag(openPredict, env: "PGSCORE_OPEN_PREDICT", in: env),
            failedKeyLimit: try Setting.value(failedKeyLimit, env: "PGSCORE_FAILED_KEY_LIMIT", default: 50, in: env),
            tls: try Self.tlsFiles(certificate: tlsCertificate ?? env["PGSCORE_TLS_CERTIFICATE"], key: tlsKey ?? env["PGSCORE_TLS_KEY"]),
            jobs: !(try Setting.flag(noJobs, env: "PGSCORE_NO_JOBS", in: env)),
            workerID: try Setting.value(workerID, env: "PGSCORE_WORKER_ID", default: Self.defaultWorkerID(), in: env),
            jobsPollMs: try Setting.value(jobsPollMs, env: "PGSCORE_JOBS_POLL_MS", default: 5000, in: env),
            monitorIntervalMs: try Setting.value(monitorIntervalMs, env: "PGSCORE_MONITOR_INTERVAL_MS", default: 1000, in: env),
            logFormat: try Setting.value(logFormat, env: "PGSCORE_LOG_FORMAT", default: "json", in: env),
            logLevel: try Logger.Level(rawValue: Setting.value(logLevel, env: "PGSCORE_LOG_LEVEL", default: "info", in: env))
                .orThrow(ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical"))
        )
        guard (0...65535).contains(settings.port) else { throw ValidationError("--port must be 0...65535") }
        if settings.tls == nil, !Self.isLoopback(settings.host), !(try Setting.flag(allowPlainHTTP, env: "PGSCORE_ALLOW_PLAIN_HTTP", in: env)) {
            throw ValidationError("--host \(settings.host) is not a loopback address: API keys would cross the network in clear text. Give --tls-certificate and --tls-key (or put a TLS proxy on this host and listen on 127.0.0.1), or --allow-plain-http")
        }
        guard (1...10_000).contains(settings.batching.maxBatch) else { throw ValidationError("--batch-max-size must be 1...10000") }
        guard settings.batching.lanes >= 1 else { throw ValidationError("--batch-lanes must be at least 1") }
        guard (Duration.zero...Duration.seconds(1)).contains(settings.batching.maxWait) else { throw ValidationError("--batch-max-wait-ms must be 0...1000") }
        guard settings.failedKeyLimit >= 0 else { throw ValidationError("--failed-key-limit must be 0 or more") }
        guard settings.poolSize >= 1 else { throw ValidationError("--pool-size must be at least 1") }
        guard settings.statementTimeoutMs >= 0 else { throw ValidationError("--statement-timeout-ms must be 0 or more") }
        guard settings.queueTimeoutMs >= 1 else { throw ValidationError("--queue-timeout-ms must be at least 1") }
        guard settings.limits.maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard settings.maxBodyBytes >= 2 else { throw ValidationError("--max-body-bytes must be at least 2") }
        guard ["on", "off"].contains(settings.synchronousCommit) else { throw ValidationError("--synchronous-commit must be on or off") }
        guard settings.jobsPollMs >= 10 else { throw ValidationError("--jobs-poll-ms must be at least 10") }
        guard settings.monitorIntervalMs >= 10 else { throw ValidationError("--monitor-interval-ms must be at least 10") }
        guard !settings.workerID.isEmpty, settings.workerID.utf8.count <= 200 else { throw ValidationError("--worker-id must be 1 to 200 bytes") }
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
        do {
            try await Self.serve(settings, logger: logger, registry: registry)
        } catch let failure as ConnectionFailure {
            // one message, in the log's format; ArgumentParser prints nothing more
            logger.critical("pgscore serve cannot start", metadata: ["error": .string(failure.description)])
            throw ExitCode.failure
        } catch {
            if error is ExitCode { throw error }
            logger.critical("pgscore serve stopped on an error", metadata: ["error": .string(JobRunner.describe(error))])
            throw ExitCode.failure
        }
    }

    /// Builds and runs the services until a signal (or a fatal error).
    static func serve(_ given: Settings, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) async throws {
        // Before anything is declared ready: the database answers, takes the role and has
        // the extension. A signal meanwhile ends the process (no handler is installed yet),
        // and the check is bounded by the connect timeout.
        let check = try await StartupCheck.run(given.databaseURL, logger: logger)
        var resolved = given
        resolved.databaseURL = DirectConnection.resolved(given.databaseURL, encrypted: check.ssl)
        let settings = resolved
        ShutdownWatchdog.arm(after: settings.drainTimeout + .seconds(2), logger: logger)
        let poolClient = PostgresClient(
            configuration: try settings.databaseURL.clientConfiguration(
                maximumConnections: settings.poolSize,
                startupParameters: [("statement_timeout", String(settings.statementTimeoutMs)),
                                    ("synchronous_commit", settings.synchronousCommit),
                                    ("application_name", "pgscore serve")]),
            backgroundLogger: logger)
        // training: one connection of its own, no statement timeout; the server checks
        // each second that the daemon is still there, so a killed daemon's training stops
        let jobClient = PostgresClient(
            configuration: try settings.databaseURL.clientConfiguration(
                maximumConnections: 1,
                startupParameters: [("statement_timeout", "0"), ("client_connection_check_interval", "1000"),
                                    ("application_name", "pgscore serve (training)")]),
            backgroundLogger: logger)
        // LISTEN pgscore_jobs: wake-ups only
        let listenClient = PostgresClient(
            configuration: try settings.databaseURL.clientConfiguration(
                maximumConnections: 1, startupParameters: [("application_name", "pgscore serve (listen)")]),
            backgroundLogger: logger)
        let metrics = GatewayMetrics(poolSize: settings.poolSize, registry: registry)
        var database = Database(client: poolClient, queueTimeout: .milliseconds(settings.queueTimeoutMs),
                                poolSize: settings.poolSize, metrics: metrics)
        database.diagnosis = ConnectionDiagnosis(url: settings.databaseURL, logger: logger)
        let runner = settings.jobs ? JobRunner(
            database: database, jobClient: jobClient, listenClient: listenClient,
            settings: .init(worker: settings.workerID, pollInterval: .milliseconds(settings.jobsPollMs),
                            monitorInterval: .milliseconds(settings.monitorIntervalMs)),
            metrics: metrics, logger: logger) : nil
        let gateway = Gateway(
            database: database, authenticator: Authenticator(database: database, openPredict: settings.openPredict,
                                                                         limiter: FailedKeyLimiter(limit: settings.failedKeyLimit)),
            metrics: metrics, specs: FeatureSpecCache(),
            batcher: PredictionBatcher(settings: settings.batching, database: database, metrics: metrics),
            jobs: runner, maxBodyBytes: settings.maxBodyBytes,
            requestTimeout: settings.requestTimeout)

        var server = GuardedHTTP1Channel.builder(limits: settings.limits, logger: logger)
        if let tls = settings.tls {
            server = try HTTPServerBuilder.tls(server, tlsConfiguration: try Self.tlsConfiguration(tls))
        }
        let listening = ListenState()
        let app = Application(
            router: gateway.makeRouter(),
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "pgscore/\(GatewayVersion.daemon)"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                listening.markListening()
                logger.info("pgscore serve listening", metadata: [
                    "address": "\(settings.host):\(port)", "tls": "\(settings.tls != nil)", "database": "\(settings.databaseURL)",
                    "pool_size": "\(settings.poolSize)", "batch_max_size": "\(settings.batching.maxBatch)",
                    "batch_lanes": "\(settings.batching.lanes)", "open_predict": "\(settings.openPredict)",
                    "jobs": "\(settings.jobs)", "worker": .string(settings.workerID),
                    "extension_version": .string(check.extensionVersion), "database_tls": "\(check.ssl)",
                ])
            },
            logger: logger)

        // Graceful shutdown runs in reverse order: the server first (requests in flight
        // finish), then the job runner, then the pools the others used.
        var services: [any Service] = [poolClient]
        if let runner { services += [jobClient, listenClient, runner] }
        services.append(ListeningService(app: app, state: listening, address: "\(settings.host):\(settings.port)"))
        var configuration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // past the drain timeout the services are cancelled: open requests are answered
        // 503 and their connections closed (Database.withConnection), the pools close
        configuration.maximumGracefulShutdownDuration = settings.drainTimeout
        let group = ServiceGroup(configuration: configuration)
        try await group.run()
        logger.info("pgscore serve stopped")
    }
}

extension ServeCommand {
    static func defaultWorkerID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "pgscore"
        return "\(host):\(getpid())"
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let value = self else { throw error() }
        return value
    }
}

extension ServeCommand {
    /// Both TLS files or neither; each must be readable now, not at the first connection.
    static func tlsFiles(certificate: String?, key: String?) throws -> (certificate: String, key: String)? {
        switch (certificate, key) {
        case (nil, nil):
            return nil
        case (let certificate?, let key?):
            for path in [certificate, key] where access(path, R_OK) != 0 {
                throw ValidationError("cannot read \(path)")
            }
            return (certificate, key)
        default:
            throw ValidationError("--tls-certificate and --tls-key go together")
        }
    }

    static func tlsConfiguration(_ files: (certificate: String, key: String)) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(files.certificate).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: files.key, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        } catch {
            throw ValidationError("the TLS certificate or key could not be loaded (\(files.certificate), \(files.key)): \(error)")
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
