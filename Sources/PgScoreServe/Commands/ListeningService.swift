#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Whether the HTTP server got its socket.
final class ListenState: Sendable {
    private let listening = NIOLockedValueBox(false)
    func markListening() { listening.withLockedValue { $0 = true } }
    var isListening: Bool { listening.withLockedValue { $0 } }
}

/// The HTTP server as a service whose failure to bind says so: the error ends the
/// ServiceGroup (and so the process, non-zero) with the address in its message.
struct ListeningService<App: ApplicationProtocol>: Service {
    let app: App
    let state: ListenState
    let address: String

    func run() async throws {
        do {
            try await app.run()
        } catch {
            guard !state.isListening else { throw error }
            throw ConnectionFailure(description: "cannot listen on \(address): \(error)")
        }
    }
}

/// The promise that SIGTERM/SIGINT end the process: if the graceful shutdown (bounded
/// by --drain-timeout) has not ended it some time after the signal, whatever hangs is
/// abandoned and the process exits with status 1.
enum ShutdownWatchdog {
    /// kept alive for the process's life; written once, before any signal can come
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func arm(after grace: Duration, logger: Logger) {
        for signal in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(grace.nanoseconds))) {
                    logger.critical("pgscore serve did not stop within the drain timeout after a signal; exiting")
                    _exit(1)
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}
