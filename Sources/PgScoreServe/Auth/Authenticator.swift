import Hummingbird
import PostgresNIO

/// Checks `Authorization: Bearer <key>` against `ml.api_keys`.
struct Authenticator: Sendable {
    let database: Database
    /// `--open-predict`: scoring (and feedback) without a key.
    let openPredict: Bool

    struct Caller: Sendable {
        let keyID: Int?
        let scope: Scope?
    }

    /// The caller, if its key allows `scope`; otherwise 401 (no key, unknown or revoked
    /// key) or 403 (a key with a narrower scope). `openRoute`: a scoring route, open
    /// with `--open-predict`.
    @discardableResult
    func require(_ scope: Scope, _ request: Request, openRoute: Bool = false) async throws -> Caller {
        if openRoute && openPredict && scope == .predict {
            return Caller(keyID: nil, scope: nil)
        }
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("this endpoint needs an API key: send \"Authorization: Bearer <key>\" (pgscore keys create)")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", APIKey.isWellFormed(parts[1]) else {
            throw Problem.unauthorized("the Authorization header must be \"Bearer <key>\" with a key made by pgscore keys create")
        }
        let hash = APIKey.hash(String(parts[1]))
        let found = try await database.withConnection { connection in
            try await connection.firstRow(
                "SELECT id, scope FROM ml.api_keys WHERE key_hash = \(hash) AND revoked_at IS NULL",
                as: (Int, String).self)
        }
        guard let (id, scopeName) = found, let keyScope = Scope(rawValue: scopeName) else {
            throw Problem.unauthorized("the API key is unknown or revoked")
        }
        guard keyScope.allows(scope) else {
            throw Problem.forbidden("this endpoint needs a key with scope \(scope.rawValue) or wider; key \(id) has scope \(keyScope.rawValue)")
        }
        return Caller(keyID: id, scope: keyScope)
    }
}
