import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// Group commit for the predict route. Every commit of a logged prediction waits for a
/// WAL flush; one flush per request made the flush the gateway's limit (issue 13). A
/// request goes to the database at once when one of the `lanes` is free; requests that
/// arrive while every lane is busy queue, and a lane that finishes takes up to `maxBatch`
/// of them as one statement and one commit (``PredictionQueries/scoreAndLog(_:on:)``).
/// So an idle gateway adds no wait, and a busy one shares commits among the requests
/// that queued behind the one in flight. Each request is answered only after the commit
/// that stored its rows was confirmed (``Database/withSingleWrite(_:)``).
///
/// One bad request must not fail the others: when the batch's statement fails with an
/// error the server raised (nothing of it was stored: the implicit transaction rolled
/// back), each request of the batch runs again alone and gets its own answer. Other
/// failures (the connection, the commit, the deadline) answer every request of the batch
/// with the same error, since none of them is known to be stored.
final class PredictionBatcher: Sendable {
    struct Settings: Sendable {
        /// most requests in one statement; 1 turns batching off
        var maxBatch: Int
        /// statements in flight at once (each on its own pooled connection)
        var lanes: Int
        /// how long a lane that was idle waits for more requests before it sends; zero: none
        var maxWait: Duration
        /// false under --read-only: scored, not logged
        var logs = true
    }

    private struct Pending: Sendable {
        let id: UInt64
        let request: PredictionQueries.Request
        let continuation: CheckedContinuation<[PredictionQueries.Scored]?, any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var head = 0
        var busyLanes = 0
        var nextID: UInt64 = 0
        /// the queue-timeout timers of the requests that queued (nil until armed),
        /// cancelled when a lane takes them
        var timers: [UInt64: Scheduled<Void>?] = [:]

        var queued: Int { queue.count - head }

        /// Up to `limit` requests from the front of the queue.
        mutating func take(_ limit: Int) -> [Pending] {
            let end = min(queue.count, head + limit)
            let batch = Array(queue[head..<end])
            head = end
            if !timers.isEmpty {
                for pending in batch { timers.removeValue(forKey: pending.id)??.cancel() }
            }
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return batch
        }

        mutating func remove(_ id: UInt64) -> Pending? {
            timers.removeValue(forKey: id)??.cancel()
            guard let index = queue[head...].firstIndex(where: { $0.id == id }) else { return nil }
            return queue.remove(at: index)
        }
    }

    let settings: Settings
    private let database: Database
    private let metrics: GatewayMetrics
    private let state = NIOLockedValueBox(State())

    init(settings: Settings, database: Database, metrics: GatewayMetrics) {
        self.settings = Settings(maxBatch: max(1, settings.maxBatch), lanes: max(1, settings.lanes),
                                 maxWait: max(.zero, settings.maxWait), logs: settings.logs)
        self.database = database
        self.metrics = metrics
    }

    /// Scores and logs `request` with others that queued with it; returns its rows once
    /// their commit is confirmed, or nil when the project's deployed version is no longer
    /// `request.version` (the caller reads the new one and scores again).
    func submit(_ request: PredictionQueries.Request) async throws -> [PredictionQueries.Scored]? {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enum Start { case cancelled, queued, lane }
                let start = state.withLockedValue { state -> Start in
                    // cancelled before it queued: the handler below ran and found nothing to remove
                    if Task.isCancelled { return .cancelled }
                    state.queue.append(Pending(id: id, request: request, continuation: continuation))
                    guard state.busyLanes < settings.lanes else {
                        state.timers[id] = .some(nil)
                        return .queued
                    }
                    state.busyLanes += 1
                    return .lane
                }
                switch start {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: armQueueTimer(id, request: request)
                case .lane: runLane()
                }
            }
        } onCancel: {
            // a request still queued is dropped (nothing of it was sent); one in flight
            // waits for its batch, which its deadline bounds
            if let pending = state.withLockedValue({ $0.remove(id) }) {
                pending.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// A queued request waits for a lane no longer than it would wait for a pooled
    /// connection (`--queue-timeout-ms`, never past its deadline): then it is answered
    /// 503 like a request that got no connection, and nothing of it was sent. While the
    /// daemon looks for a new primary (a failover: the lanes retry their batches), it
    /// waits on, up to its deadline.
    private func armQueueTimer(_ id: UInt64, request: PredictionQueries.Request, wait given: Duration? = nil) {
        let (database, metrics) = (self.database, self.metrics)
        let now = ContinuousClock.now
        let wait = given ?? request.deadline.map { min(database.queueTimeout, max($0.instant - now, .zero)) } ?? database.queueTimeout
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(wait.nanoseconds)) { [state] in
            if database.follower.isFailingOver, let deadline = request.deadline,
               deadline.instant - ContinuousClock.now > .milliseconds(100) {
                self.armQueueTimer(id, request: request, wait: deadline.instant - ContinuousClock.now)
                return
            }
            guard let pending = state.withLockedValue({ $0.remove(id) }) else { return }
            metrics.queueTimedOut()
            pending.continuation.resume(throwing: database.unavailable(after: wait))
        }
        state.withLockedValue { state in
            // (taken already: a lane runs it; nothing to time)
            if state.timers[id] != nil {
                state.timers[id] = timer
            } else {
                timer.cancel()
            }
        }
    }

    /// A lane: sends batches from the queue until it is empty.
    private func runLane() {
        Task {
            if settings.maxWait > .zero && settings.maxBatch > 1 {
                // idle until now: let a few more requests join the first batch
                try? await Task.sleep(for: settings.maxWait)
            }
            while true {
                let batch = state.withLockedValue { state -> [Pending] in
                    let batch = state.take(settings.maxBatch)
                    if batch.isEmpty { state.busyLanes -= 1 }
                    return batch
                }
                guard !batch.isEmpty else { return }
                await run(batch)
            }
        }
    }

    private func run(_ batch: [Pending]) async {
        metrics.recordBatch(size: batch.count)
        // the batch ends at the earliest deadline among its requests
        let deadline = batch.compactMap(\.request.deadline).min { $0.instant < $1.instant }
        let database = self.database
        do {
            let answers = try await Database.$deadline.withValue(deadline) {
                // (a failover: the batch goes again to the new primary, as a retry)
                try await database.retryingWhileServerLost(deadline: deadline) { isRetry in
                    let requests = batch.map { pending in
                        var request = pending.request
                        request.isRetry = request.isRetry || isRetry
                        return request
                    }
                    let logs = self.settings.logs
                    return try await database.withPossibleWrite(writes: logs) { connection in
                        try await PredictionQueries.scoreAndLog(requests, logging: logs, on: connection)
                    }
                }
            }
            for (pending, answer) in zip(batch, answers) {
                pending.continuation.resume(returning: answer)
            }
        } catch let error as PSQLError where batch.count > 1 && error.serverInfo != nil {
            for pending in batch {
                await run([pending])
            }
        } catch {
            for pending in batch {
                pending.continuation.resume(throwing: error)
            }
        }
    }
}
