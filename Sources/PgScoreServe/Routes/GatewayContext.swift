import Hummingbird
import NIOCore

/// Per-request state: the request id (from `X-Request-Id`, else generated), also in the
/// logger's metadata, echoed in the response and stored with each prediction.
struct GatewayContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var requestID: String
    /// When the request arrived, for latency.
    var arrival: ContinuousClock.Instant
    /// The client's IP address, for the limit on failed key look-ups.
    let clientAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = ""
        arrival = .now
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Header names Hummingbird does not name (its re-exports stop at HTTPFields).
enum HeaderName {
    static let requestID = HTTPFields.Element.Name("X-Request-Id")!
}
