import Hummingbird
import PostgresNIO

/// Checks `Authorization: Bearer <key>` against `ml.api_keys`: its scope, and the
/// projects it is bound to.
struct Authenticator: Sendable {
    let database: Database
    /// `--open-predict`: scoring (and feedback) without a key.
    let openPredict: Bool
    let limiter: FailedKeyLimiter

    struct Caller: Sendable {
        let keyID: Int?
        /// the key's name (pgscore keys create --name): who asked, in ml.deployments.requested_by
        var keyName: String? = nil
        let scope: Scope?
        /// the projects the key may use; nil: every project
        let projects: [String]?

        func allows(project: String) -> Bool { projects?.contains(project) ?? true }
        var isAdmin: Bool { scope == .admin }
    }

    /// The caller, if its key allows `scope` and the route's `{project}` (if it has one);
    /// otherwise 401 (no key, unknown or revoked key), 403 (a narrower scope, another
    /// project) or 429 (too many failed key look-ups from this address). `openRoute`: a
    /// scoring route, open with `--open-predict`.
    @discardableResult
    func require(_ scope: Scope, _ request: Request, _ context: GatewayContext, openRoute: Bool = false) async throws -> Caller {
        if openRoute && openPredict && scope == .predict {
            return Caller(keyID: nil, scope: nil, projects: nil)
        }
        try checkFailedLookups(context)
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("this endpoint needs an API key: send \"Authorization: Bearer <key>\" (pgscore keys create)")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", APIKey.isWellFormed(parts[1]) else {
            throw Problem.unauthorized("the Authorization header must be \"Bearer <key>\" with a key made by pgscore keys create")
        }
        return try await caller(keyHash: APIKey.hash(String(parts[1])), scope, context)
    }

    /// 429 while this address has made too many failed key look-ups.
    func checkFailedLookups(_ context: GatewayContext) throws {
        if let seconds = limiter.retryAfter(context.clientAddress) {
            throw Problem.tooManyRequests("too many requests with unknown keys from this address; try again in \(seconds) s",
                                          retryAfter: seconds)
        }
    }

    /// The caller whose key has SHA-256 `keyHash` (from the Authorization header, or a
    /// dashboard session), checked as ``require(_:_:_:openRoute:)`` checks it: 401 for a
    /// key unknown or revoked (since the session began, too), 403 for a narrower scope
    /// or another project than the route's `{project}`.
    func caller(keyHash hash: String, _ scope: Scope, _ context: GatewayContext) async throws -> Caller {
        let found = try await database.withConnection { connection in
            try await connection.firstRow(
                "SELECT id, name, scope, projects FROM ml.api_keys WHERE key_hash = \(hash) AND revoked_at IS NULL",
                as: (Int, String, String, [String]?).self)
        }
        guard let (id, name, scopeName, projects) = found, let keyScope = Scope(rawValue: scopeName) else {
            limiter.recordFailure(context.clientAddress)
            throw Problem.unauthorized("the API key is unknown or revoked")
        }
        guard keyScope.allows(scope) else {
            throw Problem.forbidden("this endpoint needs a key with scope \(scope.rawValue) or wider; key \(id) has scope \(keyScope.rawValue)")
        }
        let caller = Caller(keyID: id, keyName: name, scope: keyScope, projects: projects)
        if let project = context.parameters.get("project"), !caller.allows(project: project) {
            throw Problem.forbidden("key \(id) may not use project \"\(project)\"; it is bound to \((projects ?? []).joined(separator: ", "))")
        }
        return caller
    }
}
