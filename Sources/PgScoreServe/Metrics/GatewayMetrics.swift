import NIOConcurrencyHelpers
import Prometheus

/// The daemon's Prometheus metrics, served at `/metrics`.
final class GatewayMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let poolInUse: Gauge
    private let poolWaiting: Gauge
    private let poolWait: DurationHistogram
    private let poolTimeouts: Counter
    private let failoverRetries: Counter
    private let batchSizes: ValueHistogram
    private let counters = NIOLockedValueBox<[String: Counter]>([:])
    private let histograms = NIOLockedValueBox<[String: DurationHistogram]>([:])

    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    init(poolSize: Int, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        registry.makeGauge(descriptor: Self.name("db_pool_size", "connections", "Most connections the pool opens (--pool-size)."))
            .set(Double(poolSize))
        poolInUse = registry.makeGauge(descriptor: Self.name("db_pool_in_use", "connections", "Pooled connections running a request now."))
        poolWaiting = registry.makeGauge(descriptor: Self.name("db_pool_waiting", "requests", "Requests waiting for a pooled connection."))
        poolWait = registry.makeDurationHistogram(
            descriptor: Self.name("db_pool_wait", "seconds", "Time requests waited for a pooled connection."),
            labels: [], buckets: Self.latencyBuckets)
        poolTimeouts = registry.makeCounter(descriptor: Self.name(
            "db_pool_timeouts", "total", "Requests that got no connection within --queue-timeout-ms (answered 503)."))
        failoverRetries = registry.makeCounter(descriptor: Self.name(
            "db_failover_retries", "total", "Database work sent again because its server was lost or became read-only (a failover)."))
        batchSizes = registry.makeValueHistogram(
            descriptor: Self.name("predict_batch_size", "requests", "Prediction requests scored, logged and committed by one statement (--batch-max-size)."),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "pgscore", metricName: metric, unitName: unit, helpText: help)
    }

    // MARK: HTTP

    /// One answered request: `route` is the matched pattern (`/v1/projects/{project}/predict`).
    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let key = "\(route) \(method) \(status)"
        let counter = counters.withLockedValue { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.name("http_requests", "total", "HTTP requests answered, by route, method and status."),
                labels: [("route", route), ("method", method), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let histogramKey = "\(route) \(method)"
        let histogram = histograms.withLockedValue { histograms in
            if let histogram = histograms[histogramKey] { return histogram }
            let histogram = registry.makeDurationHistogram(
                descriptor: Self.name("http_request_duration", "seconds", "Time from request to response, by route and method."),
                labels: [("route", route), ("method", method)], buckets: Self.latencyBuckets)
            histograms[histogramKey] = histogram
            return histogram
        }
        histogram.record(duration)
    }

    // MARK: pool

    func poolRequested() { poolWaiting.increment() }

    func poolAcquired(after wait: Duration) {
        poolWaiting.decrement()
        poolInUse.increment()
        poolWait.record(wait)
    }

    func recordBatch(size: Int) { batchSizes.record(Double(size)) }

    func poolReleased() { poolInUse.decrement() }

    func poolGaveUp() { poolWaiting.decrement() }

    /// A prediction waited for a batch lane past --queue-timeout-ms (answered 503).
    func queueTimedOut() { poolTimeouts.increment() }

    func failoverRetried() { failoverRetries.increment() }

    func poolTimedOut() {
        poolWaiting.decrement()
        poolTimeouts.increment()
    }

    // MARK: domain

    func recordPredictions(project: String, count: Int) {
        // looked up in our own table: the registry's lookup is slower and this runs per request
        let counter = counters.withLockedValue { counters in
            let key = "predictions \(project)"
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.name("predictions", "total", "Predictions answered (and logged to ml.predictions), by project."),
                labels: [("project", project)])
            counters[key] = counter
            return counter
        }
        counter.increment(by: Int64(count))
    }

    func recordTrainingRun(status: String) {
        registry.makeCounter(
            descriptor: Self.name("training_runs", "total", "Training runs finished, by status."),
            labels: [("status", status)]
        ).increment()
    }

    /// The text exposition format.
    func exposition() -> String {
        registry.emitToString()
    }
}
