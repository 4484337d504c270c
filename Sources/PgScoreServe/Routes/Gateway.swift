import Hummingbird
import NIOCore

/// The REST gateway: its routes turn JSON into parameterized SQL against the `ml` schema.
struct Gateway: Sendable {
    let database: Database
    let authenticator: Authenticator
    let metrics: GatewayMetrics
    let specs: FeatureSpecCache
    let training: TrainingRunner?
    let maxBodyBytes: Int

    func makeRouter() -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: GatewayMiddleware(metrics: metrics))
        addHealthRoutes(to: router)
        addPredictRoutes(to: router)
        addFeedbackRoutes(to: router)
        addRegistryRoutes(to: router)
        addTrainingRoutes(to: router)
        return router
    }

    /// The request body as JSON: 413 beyond `maxBodyBytes`, 400 when empty or malformed.
    func jsonBody(of request: Request) async throws -> JSONValue {
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
            return try JSONValue.parse(Array(buffer.readableBytesView))
        } catch let error as JSONValue.ParseError {
            throw Problem.badRequest(error.description)
        }
    }

    /// The `{project}` path parameter; 404 for a name no project can have.
    func projectName(_ context: GatewayContext) throws -> String {
        let name = context.parameters.get("project") ?? ""
        guard name.wholeMatch(of: TrainingRequest.projectPattern) != nil else {
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
