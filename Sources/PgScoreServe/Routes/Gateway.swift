import Hummingbird
import NIOCore

/// The REST gateway: its routes turn JSON into parameterized SQL against the `ml` schema.
struct Gateway: Sendable {
    let database: Database
    let authenticator: Authenticator
    let metrics: GatewayMetrics
    let specs: FeatureSpecCache
    /// group commit of predictions
    let batcher: PredictionBatcher
    /// nil when this daemon runs no jobs (`--no-jobs`): runs queued here wait for a replica that does
    let jobs: JobRunner?
    let maxBodyBytes: Int
    /// `--request-timeout`
    var requestTimeout: Duration = .seconds(10)
    /// the dashboard's logins
    var sessions = DashboardSessions()
    /// the project pages' predictions per past hour
    var volumes = PredictionVolumeCache()
    /// `Secure` on the session cookie: the daemon serves HTTPS
    var secureCookies = false
    /// `--read-only`: predictions are scored, not logged; every other POST is refused
    var readOnly = false

    func makeRouter() -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: GatewayMiddleware(metrics: metrics, requestTimeout: requestTimeout))
        if readOnly { router.add(middleware: ReadOnlyMiddleware()) }
        addHealthRoutes(to: router)
        addOpenAPIRoutes(to: router)
        addPredictRoutes(to: router)
        addFeedbackRoutes(to: router)
        addRegistryRoutes(to: router)
        addTrainingRoutes(to: router)
        addJobRoutes(to: router)
        addDashboardRoutes(to: router)
        return router
    }

    /// The request body as JSON: 413 beyond `maxBodyBytes`, 400 when empty or malformed.
    func jsonBody(of request: Request) async throws -> JSONValue {
        try await jsonBodyAndText(of: request).value
    }

    /// The request body as JSON and as the text sent (valid UTF-8 once parsed), for
    /// statements that hand the body to PostgreSQL as it came.
    func jsonBodyAndText(of request: Request) async throws -> (value: JSONValue, text: String) {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw Problem.tooLarge(maxBodyBytes)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Problem.tooLarge(maxBodyBytes)
        }
        guard buffer.readableBytes > 0 else {
            throw Problem.badRequest("the request body is empty; send a JSON object")
        }
        do {
            let bytes = Array(buffer.readableBytesView)
            return (try JSONValue.parse(bytes), String(decoding: bytes, as: UTF8.self))
        } catch {
            throw Problem.badRequest("the body is not valid JSON: \(error.message)")
        }
    }

    /// The `{project}` path parameter; 404 for a name no project can have.
    func projectName(_ context: GatewayContext) throws -> String {
        let name = context.parameters.get("project") ?? ""
        guard TrainingRequest.isProjectName(name) else {
            throw Problem.notFound("project \"\(name)\" does not exist (names are letters, digits, _ . -, at most 63)")
        }
        return name
    }

    /// An integer path parameter; 404 when it is not one.
    func integerParameter(_ name: String, _ context: GatewayContext, what: String) throws -> Int {
        let text = context.parameters.get(name) ?? ""
        guard let value = Int(text), value > 0, value <= Int(Int32.max) || name != "version" else {
            throw Problem.notFound("\(what) \"\(text)\" does not exist")
        }
        return value
    }
}
