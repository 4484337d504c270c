import Foundation
import Hummingbird
import Logging
import NIOCore

/// Wraps every route (and unmatched paths): assigns the request id, turns any error into
/// a problem+json answer, counts and times the request, and writes one access-log line.
struct GatewayMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let metrics: GatewayMetrics
    /// `--request-timeout`: one deadline per request, from its arrival, over waiting for a
    /// connection, the statements and the COMMIT (``Database/deadline``)
    var requestTimeout: Duration = .seconds(10)

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        context.arrival = .now
        if let given = request.headers[HeaderName.requestID], Self.isValidRequestID(given) {
            context.requestID = given
        } else {
            context.requestID = context.id
        }
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = .string(context.requestID)

        var response: Response
        do {
            let deadline = Database.RequestDeadline(instant: context.arrival + requestTimeout, timeout: requestTimeout)
            response = try await Database.$deadline.withValue(deadline) {
                try await next(request, context)
            }
        } catch {
            let problem = Self.problem(for: error, request: request)
            if problem.status.code == 500 {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "status": "\(problem.status.code)"])
            } else if problem.status.code > 500 {
                context.logger.warning("request not served", metadata: ["detail": .string(problem.detail), "status": "\(problem.status.code)"])
            }
            response = problem.response(requestID: context.requestID)
        }
        response.headers[HeaderName.requestID] = context.requestID
        let duration = ContinuousClock.now - context.arrival
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(route: route == "NotFound" ? "unmatched" : route, method: request.method.rawValue,
                              status: response.status.code, duration: duration)
        context.logger.info("request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path),
            "route": .string(route), "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: "%.2f", duration / .milliseconds(1))),
        ])
        return response
    }

    static func isValidRequestID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
    }

    static func problem(for error: any Error, request: Request) -> Problem {
        if let problem = error as? Problem { return problem }
        if let problem = Problem.from(database: error) { return problem }
        if let parse = error as? JSONParseError { return .badRequest(parse.message) }
        if error is NIOTooManyBytesError { return .tooLarge(0) }
        if let http = error as? any HTTPResponseError {
            switch http.status {
            case .notFound:
                return .notFound("no endpoint \(request.method.rawValue) \(request.uri.path); see openapi.yaml")
            case .contentTooLarge:
                return Problem(status: .contentTooLarge, kind: "too-large", title: "Request body too large",
                               detail: "the request body is too large")
            default:
                return Problem(status: http.status, kind: "http", title: http.status.reasonPhrase,
                               detail: "\(request.method.rawValue) \(request.uri.path): \(http.status.reasonPhrase)")
            }
        }
        if error is CancellationError {
            return .unavailable("the request was cancelled (the daemon is shutting down)")
        }
        return .internalError("unexpected error: \(type(of: error))")
    }
}
