import Hummingbird

/// An error answer as `application/problem+json` (RFC 9457): `type`, `title`, `status`,
/// `detail`, plus members of our own (`request_id`, `missing_features`, …).
struct Problem: Error, HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    /// Short name of the kind of problem; the `type` member is `urn:pgscore:problem:<kind>`.
    var kind: String
    var title: String
    var detail: String
    var extra: [(String, JSONValue)] = []
    /// Seconds, for 503: when to try again.
    var retryAfter: Int? = nil

    var type: String { "urn:pgscore:problem:\(kind)" }
    var description: String { "\(status.code) \(title): \(detail)" }

    func body(requestID: String?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("type", .string(type)), ("title", .string(title)), ("status", .number(Double(status.code))),
            ("detail", .string(detail)),
        ]
        if let requestID { fields.append(("request_id", .string(requestID))) }
        fields.append(contentsOf: extra)
        return .fields(fields)
    }

    func response(requestID: String?) -> Response {
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response.json(body(requestID: requestID), status: status, headers: headers)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response(requestID: nil)
    }
}

extension Problem {
    static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, kind: "malformed-request", title: "Malformed request", detail: detail)
    }

    static func validation(_ detail: String, _ extra: [(String, JSONValue)] = []) -> Problem {
        Problem(status: .unprocessableContent, kind: "validation", title: "Invalid request content", detail: detail, extra: extra)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, kind: "not-found", title: "Not found", detail: detail)
    }

    static func conflict(_ detail: String) -> Problem {
        Problem(status: .conflict, kind: "conflict", title: "Conflict with the registry's state", detail: detail)
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem(status: .unauthorized, kind: "unauthorized", title: "Missing or invalid API key", detail: detail)
    }

    static func forbidden(_ detail: String) -> Problem {
        Problem(status: .forbidden, kind: "forbidden", title: "Insufficient scope", detail: detail)
    }

    static func tooManyRequests(_ detail: String, retryAfter: Int) -> Problem {
        Problem(status: .tooManyRequests, kind: "too-many-requests", title: "Too many requests", detail: detail, retryAfter: retryAfter)
    }

    static func unavailable(_ detail: String, retryAfter: Int = 1) -> Problem {
        Problem(status: .serviceUnavailable, kind: "unavailable", title: "Service unavailable", detail: detail, retryAfter: retryAfter)
    }

    /// A route that writes, on a gateway started with --read-only.
    static func readOnly(_ detail: String) -> Problem {
        Problem(status: .methodNotAllowed, kind: "read-only", title: "This gateway is read-only", detail: detail)
    }

    static func timeout(_ detail: String) -> Problem {
        Problem(status: .gatewayTimeout, kind: "timeout", title: "Statement timeout", detail: detail)
    }

    static func deadline(_ detail: String) -> Problem {
        Problem(status: .gatewayTimeout, kind: "deadline", title: "Request deadline exceeded", detail: detail)
    }

    static func tooLarge(_ limit: Int) -> Problem {
        Problem(status: .contentTooLarge, kind: "too-large", title: "Request body too large",
                detail: "the request body is larger than \(limit) bytes (--max-body-bytes)")
    }

    static func internalError(_ detail: String) -> Problem {
        Problem(status: .internalServerError, kind: "internal", title: "Internal error", detail: detail)
    }
}

extension Response {
    /// A JSON body.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        var buffer = ByteBuffer()
        buffer.writeString(value.serialized)
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}
