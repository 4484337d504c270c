import Hummingbird

/// `--read-only` (a gateway on a hot standby, for analytics traffic): every route that
/// writes (all POSTs but predict and the dashboard's login and logout, which change only
/// the daemon's own sessions: feedback, records, train, deploy, rollback, the dashboard's
/// actions) is refused before it reaches the database, with a problem that names the flag.
struct ReadOnlyMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        if request.method != .get && request.method != .head,
           !(request.method == .post && (Self.isPredict(request.uri.path) || Self.sessionPaths.contains(request.uri.path))) {
            throw Problem.readOnly(
                "this gateway was started with --read-only: it scores predictions without logging them and makes no other change; send \(request.method.rawValue) \(request.uri.path) to a gateway on the primary")
        }
        return try await next(request, context)
    }

    static let sessionPaths: Set<String> = ["/login", "/logout"]

    /// `/v1/projects/{project}/predict`
    static func isPredict(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 5 && parts[0].isEmpty && parts[1] == "v1" && parts[2] == "projects" && parts[4] == "predict"
    }
}
