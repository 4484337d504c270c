import NIOConcurrencyHelpers

/// Dashboard logins: a random token (the cookie) mapped, in this process, to the SHA-256
/// of the API key it was opened with and a CSRF token. The key itself is never kept, and
/// the key is looked up again on every request, so a revoked key ends its sessions.
/// Sessions end after `lifetime`, at logout, or when the daemon restarts.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        let keyHash: String
        /// sent back in a hidden field of every form; a POST without it is refused
        let csrf: String
        let expires: ContinuousClock.Instant
    }

    static let cookieName = "pgscore_session"
    let lifetime: Duration
    /// at most this many live sessions (the oldest go first): a bound on memory
    let capacity: Int
    private let sessions = NIOLockedValueBox([String: Session]())

    init(lifetime: Duration = .seconds(8 * 3600), capacity: Int = 10_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// A new session for the key with hash `keyHash`: its token.
    func open(keyHash: String) -> String {
        let token = APIKey.randomToken()
        let now = ContinuousClock.now
        let session = Session(keyHash: keyHash, csrf: APIKey.randomToken(), expires: now + lifetime)
        sessions.withLockedValue { map in
            if map.count >= capacity {
                map = map.filter { $0.value.expires > now }
                while map.count >= capacity, let oldest = map.min(by: { $0.value.expires < $1.value.expires }) {
                    map[oldest.key] = nil
                }
            }
            map[token] = session
        }
        return token
    }

    /// The live session of `token`, if any.
    func session(_ token: String) -> Session? {
        let now = ContinuousClock.now
        return sessions.withLockedValue { map in
            guard let session = map[token] else { return nil }
            guard session.expires > now else {
                map[token] = nil
                return nil
            }
            return session
        }
    }

    func close(_ token: String) {
        _ = sessions.withLockedValue { $0.removeValue(forKey: token) }
    }

    /// `Set-Cookie` for a session token: HttpOnly (no script reads it), SameSite=Strict
    /// (no other site's page sends it), the whole dashboard's path; `secure` under TLS.
    func cookie(_ token: String, secure: Bool) -> String {
        "\(Self.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(lifetime.components.seconds)"
            + (secure ? "; Secure" : "")
    }

    /// `Set-Cookie` that ends the session in the browser.
    static func expiredCookie(secure: Bool) -> String {
        "\(cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + (secure ? "; Secure" : "")
    }
}
