import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// Limits on the gateway's HTTP connections, as a reverse proxy sets them: a client that
/// sends its headers or its body too slowly, or keeps an idle connection open, is cut
/// off; beyond `maxConnections` open connections a new one is answered 503 and closed.
struct ConnectionLimits: Sendable {
    /// from the first byte of a request until its headers are complete
    var headerTimeout: Duration = .seconds(10)
    /// from the end of the headers until the body is complete
    var bodyTimeout: Duration = .seconds(30)
    /// between two requests of a keep-alive connection (and before the first)
    var idleTimeout: Duration = .seconds(60)
    var maxConnections: Int = 1024
}

/// Hummingbird's HTTP/1.1 child channel with ``ConnectionLimits``: Hummingbird 2.28.1
/// offers an idle timeout (`HTTP1Channel.Configuration.idleTimeout`, which counts a
/// half-sent request as idle) and a connection limit that stops accepting (clients wait
/// in the listen backlog) but no header or body timeout; this adds one handler in front
/// of the HTTP decoder (bytes: the first byte of a request) and one after it (request
/// parts: headers, end of body, end of the answer) sharing one timer per connection.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let open: NIOLockedValueBox<Int>
    let logger: Logger

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, logger: Logger) {
        self.responder = responder
        self.limits = limits
        self.open = NIOLockedValueBox(0)
        self.logger = logger
    }

    static func builder(limits: ConnectionLimits, logger: Logger) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits, logger: logger) }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = open.withLockedValue { count -> Bool in
            guard count < limits.maxConnections else { return false }
            count += 1
            return true
        }
        guard admitted else {
            self.logger.warning("connection refused: too many open connections", metadata: ["max_connections": "\(limits.maxConnections)"])
            let body = Problem.unavailable("the gateway has \(limits.maxConnections) open connections (--max-connections); try again")
                .body(requestID: nil).serialized
            let refusal = RawAnswer(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"
                    + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(refusal)
            }.flatMap { HTTP1Channel(responder: responder).setup(channel: channel, logger: logger) }
        }
        let open = self.open
        channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
        let timer = RequestTimer(limits: limits)
        var configuration = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestPartWatcher(timer: timer)])
        configuration.idleTimeout = nil     // ours: RequestTimer
        let http = HTTP1Channel(responder: responder, configuration: configuration)
        do {
            try channel.pipeline.syncOperations.addHandler(FirstByteWatcher(timer: timer))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// Answers a connection with fixed bytes as soon as it is active, then closes it; drops
/// what the client sends (a connection over --max-connections).
final class RawAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let answer: String
    private var sent = false

    init(_ answer: String) { self.answer = answer }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { send(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func send(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var buffer = context.channel.allocator.buffer(capacity: answer.utf8.count)
        buffer.writeString(answer)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in context.close(promise: nil) }
    }
}

/// One connection's timer; used on its event loop only (by its two handlers).
final class RequestTimer: @unchecked Sendable {
    enum Phase { case idle, head, body, answering }
    let limits: ConnectionLimits
    private(set) var phase = Phase.idle
    private var scheduled: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits) { self.limits = limits }

    func start(_ context: ChannelHandlerContext) {
        self.context = context
        enter(.idle)
    }

    func stop() {
        scheduled?.cancel()
        scheduled = nil
        context = nil
    }

    func enter(_ phase: Phase) {
        self.phase = phase
        scheduled?.cancel()
        scheduled = nil
        guard let context else { return }
        let limit: Duration
        switch phase {
        case .idle: limit = limits.idleTimeout
        case .head: limit = limits.headerTimeout
        case .body: limit = limits.bodyTimeout
        case .answering: return     // the request's own deadline (--request-timeout) applies
        }
        scheduled = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(limit.nanoseconds)) {
            self.expired(phase)
        }
    }

    private func expired(_ phase: Phase) {
        guard let context, self.phase == phase else { return }
        if phase == .head {
            // nothing of an answer was sent yet: say why (on the raw socket, as the first handler)
            let body = Problem(status: .requestTimeout, kind: "header-timeout", title: "Request header timeout",
                               detail: "the request headers did not arrive within \(Problem.seconds(limits.headerTimeout)) s (--header-timeout)")
                .body(requestID: nil).serialized
            var buffer = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
            buffer.writeString("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/problem+json\r\n")
            buffer.writeString("Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
        stop()
    }
}

/// In front of the HTTP decoder: the first byte of a request starts its header timeout.
final class FirstByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let timer: RequestTimer

    init(timer: RequestTimer) { self.timer = timer }

    func handlerAdded(context: ChannelHandlerContext) { timer.start(context) }
    func handlerRemoved(context: ChannelHandlerContext) { timer.stop() }
    func channelInactive(context: ChannelHandlerContext) {
        timer.stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer.phase == .idle { timer.enter(.head) }
        context.fireChannelRead(data)
    }
}

/// After the HTTP decoder: headers complete → body timeout; body complete → the
/// request's deadline; answer sent → idle timeout.
final class RequestPartWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let timer: RequestTimer

    init(timer: RequestTimer) { self.timer = timer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: timer.enter(.body)
        case .body: break
        case .end: timer.enter(.answering)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), timer.phase == .answering || timer.phase == .body {
            timer.enter(.idle)
        }
        context.write(data, promise: promise)
    }
}
