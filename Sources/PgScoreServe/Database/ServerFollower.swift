import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// The daemon's connection pools, on the server of the URL's host list that fits its
/// `target_session_attrs`, and on the next one when that server goes (a failover).
///
/// A PostgresNIO 1.33.2 `PostgresClient` connects to one host, and its connection
/// factory is not public; so the pools of one server are one *generation*: when a request
/// finds that the server went or stopped taking writes (``Database/isServerLost(_:)``),
/// the hosts are looked at again (``ServerSelection``), and if another server fits, new
/// pools are made for it and the old ones shut down (the work still on them fails and is
/// retried by its caller on the new ones). While no server fits, the search goes on with
/// backoff and one warning a minute. A URL with one host and no target_session_attrs is
/// never searched again: its pools reconnect to that host by themselves.
final class ServerFollower: Service, Sendable {
    /// One pool's settings, the same on every server.
    struct PoolSpec: Sendable {
        let maximumConnections: Int
        let startupParameters: [(String, String)]
    }

    struct Generation: Sendable {
        let number: Int
        let url: DatabaseURL
        let clients: [PostgresClient]
    }

    private struct State {
        var current: Generation
        var runner: Task<Void, Never>?
        var searching = false
        var stopped = false
        /// when the pools last moved to another server
        var movedAt: ContinuousClock.Instant?
        /// work under way on a generation's pools, ended when they are left (``register(generation:abort:)``)
        var aborts: [UInt64: (generation: Int, abort: @Sendable () -> Void)] = [:]
        var nextAbort: UInt64 = 0
    }

    /// How long after a move the new server counts as settling: a promoted standby may
    /// take writes and hold their commits until its manager lets them through (a
    /// pg_auto_failover node in stop_replication), so a pool timeout then is the failover's.
    static let settling: Duration = .seconds(30)

    private let url: DatabaseURL?
    private let specs: [PoolSpec]
    private let logger: Logger
    private let warnings: RateLimitedWarnings
    private let state: NIOLockedValueBox<State>

    /// Pools on `selected` (found by ``ServerSelection/select(_:logger:)``), following
    /// the primary among `url`'s hosts when the URL chooses a server.
    init(url: DatabaseURL, selected: DatabaseURL, pools specs: [PoolSpec], logger: Logger) throws {
        self.url = url.choosesAServer ? url : nil
        self.specs = specs
        self.logger = logger
        self.warnings = RateLimitedWarnings(logger: logger)
        let clients = try Self.clients(for: selected, specs: specs, logger: logger)
        self.state = NIOLockedValueBox(State(current: Generation(number: 1, url: selected, clients: clients)))
    }

    /// Fixed pools that never move (in-process tests).
    init(fixed clients: [PostgresClient], url: DatabaseURL, logger: Logger) {
        self.url = nil
        self.specs = []
        self.logger = logger
        self.warnings = RateLimitedWarnings(logger: logger)
        self.state = NIOLockedValueBox(State(current: Generation(number: 1, url: url, clients: clients)))
    }

    private static func clients(for url: DatabaseURL, specs: [PoolSpec], logger: Logger) throws -> [PostgresClient] {
        try specs.map {
            PostgresClient(configuration: try url.clientConfiguration(maximumConnections: $0.maximumConnections,
                                                                      startupParameters: $0.startupParameters),
                           backgroundLogger: logger)
        }
    }

    var current: Generation { state.withLockedValue { $0.current } }

    /// Whether the pools may move to another server.
    var follows: Bool { url != nil }

    /// Whether a search for the server is under way (no server known to fit).
    var isSearching: Bool { state.withLockedValue { $0.searching } }

    /// A failover is under way or just happened: searching, or moved within ``settling``.
    /// Then a request that got no connection in time waits on, up to its deadline.
    var isFailingOver: Bool {
        state.withLockedValue { state in
            state.searching || state.movedAt.map { ContinuousClock.now - $0 < Self.settling } ?? false
        }
    }

    /// Work on `generation`'s pools: `abort` ends it (its connection closed, its caller
    /// answered) when the pools move on. Needed because a statement written to a
    /// connection that just died is never answered in PostgresNIO 1.33.2, and work
    /// without a request deadline (the job runner) would wait for ever. nil: not
    /// following, nothing to register.
    func register(generation: Int, abort: @escaping @Sendable () -> Void) -> UInt64? {
        guard url != nil else { return nil }
        let (token, stale) = state.withLockedValue { state -> (UInt64, Bool) in
            state.nextAbort &+= 1
            state.aborts[state.nextAbort] = (generation, abort)
            return (state.nextAbort, state.current.number != generation)
        }
        if stale { abortWork(before: current.number) }
        return token
    }

    func unregister(_ token: UInt64?) {
        guard let token else { return }
        _ = state.withLockedValue { $0.aborts.removeValue(forKey: token) }
    }

    private func abortWork(before generation: Int) {
        let aborts = state.withLockedValue { state -> [@Sendable () -> Void] in
            let old = state.aborts.filter { $0.value.generation < generation }
            for key in old.keys { state.aborts.removeValue(forKey: key) }
            return old.values.map(\.abort)
        }
        for abort in aborts { abort() }
    }

    /// Runs the pools until the service group shuts down; then closes them.
    func run() async throws {
        state.withLockedValue { $0.runner = Self.start($0.current) }
        try? await gracefulShutdown()
        let runner = state.withLockedValue { state -> Task<Void, Never>? in
            state.stopped = true
            return state.runner
        }
        runner?.cancel()
        await runner?.value
    }

    private static func start(_ generation: Generation) -> Task<Void, Never> {
        Task {
            await withDiscardingTaskGroup { group in
                for client in generation.clients {
                    group.addTask { await client.run() }
                }
            }
        }
    }

    /// Work on `generation`'s pools found the server gone or read-only: look for the
    /// server to use now, unless that is under way or already done.
    func serverLost(generation: Int) {
        guard let url else { return }
        let start = state.withLockedValue { state -> Bool in
            guard !state.stopped, !state.searching, state.current.number == generation else { return false }
            state.searching = true
            return true
        }
        guard start else { return }
        Task { await self.search(url) }
    }

    private func search(_ url: DatabaseURL) async {
        var backoff = RetryBackoff(initial: .milliseconds(100), cap: .seconds(1))
        while !state.withLockedValue({ $0.stopped }) {
            do {
                let found = try await ServerSelection.select(url, logger: logger)
                let old = current
                if found.url.hosts == old.url.hosts {
                    // the same server still fits: its pools reconnect by themselves
                    state.withLockedValue { $0.searching = false }
                    return
                }
                let clients = try Self.clients(for: found.url, specs: specs, logger: logger)
                let (previous, started) = state.withLockedValue { state -> (Task<Void, Never>?, Bool) in
                    guard !state.stopped else { return (nil, false) }
                    let previous = state.runner
                    state.current = Generation(number: state.current.number + 1, url: found.url, clients: clients)
                    state.runner = Self.start(state.current)
                    state.searching = false
                    state.movedAt = .now
                    return (previous, true)
                }
                guard started else { return }
                logger.notice("following the database server that fits target_session_attrs", metadata: [
                    "server": .string(found.url.endpoint), "previous": .string(old.url.endpoint),
                    "target_session_attrs": .string(url.targetSessionAttrs.rawValue),
                ])
                // its connections close; what still runs on them fails and is retried
                abortWork(before: current.number)
                previous?.cancel()
                return
            } catch {
                warnings.warning("no database server fits; looking again", error: "\(error)")
                try? await Task.sleep(for: backoff.next())
            }
        }
        state.withLockedValue { $0.searching = false }
    }

    /// Waits (polling, at most until `deadline`) while a search is under way.
    func awaitServer(until deadline: ContinuousClock.Instant) async {
        while isSearching && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
