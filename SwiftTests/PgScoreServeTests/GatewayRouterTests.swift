import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

@testable import PgScoreServe

/// Routes that answer before any database work, in process (no server, no PostgreSQL:
/// the pool is never asked for a connection).
@Suite struct GatewayRouterTests {
    func app(openPredict: Bool = false, maxBodyBytes: Int = 1000) -> some ApplicationProtocol {
        let logger = Logger(label: "test")
        let client = PostgresClient(
            configuration: .init(host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "none", tls: .disable),
            backgroundLogger: logger)
        let metrics = GatewayMetrics(poolSize: 1)
        let database = Database(client: client, queueTimeout: .milliseconds(50), poolSize: 1, metrics: metrics)
        let gateway = Gateway(
            database: database, authenticator: Authenticator(database: database, openPredict: openPredict, limiter: FailedKeyLimiter(limit: 50)),
            metrics: metrics, specs: FeatureSpecCache(),
            batcher: PredictionBatcher(settings: .init(maxBatch: 64, lanes: 1, maxWait: .zero), database: database, metrics: metrics),
            jobs: nil, maxBodyBytes: maxBodyBytes)
        return Application(router: gateway.makeRouter(), logger: logger)
    }

    @Test func healthAnswersWithoutADatabase() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                #expect(response.headers[HeaderName.requestID] != nil)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains(#"pgscore_http_requests_total{route="/healthz",method="GET",status="200"} 1"#))
            }
        }
    }

    @Test func unknownRoutesAreProblems() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/v9/x", method: .get, headers: [HeaderName.requestID: "abc-1"]) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains(#""request_id":"abc-1""#))
            }
        }
    }

    @Test func keysAreRequiredBeforeAnythingElse() async throws {
        try await app().test(.router) { client in
            for (uri, method) in [("/v1/projects", HTTPRequest.Method.get), ("/v1/projects/heart/predict", .post),
                                  ("/v1/projects/heart/deploy", .post), ("/v1/runs/1", .get)] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .unauthorized)
                }
            }
            try await client.execute(uri: "/v1/projects", method: .get, headers: [.authorization: "Bearer not-a-key"]) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func malformedAndOversizedBodies() async throws {
        try await app(openPredict: true, maxBodyBytes: 100).test(.router) { client in
            try await client.execute(uri: "/v1/projects/heart/predict", method: .post, body: ByteBuffer(string: "{oops")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/projects/heart/predict", method: .post, body: ByteBuffer(string: "[1]")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/projects/heart/predict", method: .post,
                                     body: ByteBuffer(string: #"{"instances": []}"#)) { response in
                #expect(response.status == .unprocessableContent)
            }
            let big = "{\"a\": \"" + String(repeating: "x", count: 200) + "\"}"
            try await client.execute(uri: "/v1/projects/heart/predict", method: .post, body: ByteBuffer(string: big)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    @Test func aDatabaseThatCannotBeReachedIs503() async throws {
        try await app(openPredict: true).test(.router) { client in
            try await client.execute(uri: "/v1/projects/heart/predict", method: .post, body: ByteBuffer(string: #"{"a": 1}"#)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
            }
        }
    }
}
