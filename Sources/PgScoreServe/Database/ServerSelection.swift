import Logging
import PostgresNIO

/// Which server of a multi-host URL to use, as libpq picks it: the hosts in order, the
/// first that connects and fits `target_session_attrs` (prefer-standby: a standby first,
/// else any). Each is looked at on one direct connection (``DirectConnection``), so a
/// refusal says why.
enum ServerSelection {
    /// The server taken: settings for it alone (sslmode=allow resolved, see
    /// ``DirectConnection/resolved(_:encrypted:)``), and what it was when looked at.
    struct Found: Sendable {
        let url: DatabaseURL
        let readOnly: Bool
        let inRecovery: Bool
    }

    static func select(_ url: DatabaseURL, logger: Logger) async throws -> Found {
        var refusals: [String] = []
        var fallback: Found?
        for endpoint in url.hosts {
            let one = url.at(endpoint)
            do {
                let (readOnly, inRecovery, ssl) = try await DirectConnection.with(
                    one, applicationName: "pgscore serve (server selection)", logger: logger
                ) { connection in
                    try await connection.firstRow(
                        """
                        SELECT current_setting('transaction_read_only') = 'on', pg_is_in_recovery(),
                               coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)
                        """, as: (Bool, Bool, Bool).self) ?? (true, true, false)
                }
                let found = Found(url: DirectConnection.resolved(one, encrypted: ssl), readOnly: readOnly, inRecovery: inRecovery)
                if url.targetSessionAttrs.accepts(readOnly: readOnly, inRecovery: inRecovery) {
                    return found
                }
                if url.targetSessionAttrs.accepts(readOnly: readOnly, inRecovery: inRecovery, lenient: true) {
                    fallback = fallback ?? found
                }
                refusals.append("\(endpoint) is \(inRecovery ? "a standby (in recovery)" : readOnly ? "read-only" : "a primary that takes writes")")
            } catch {
                refusals.append("\(error)")
            }
        }
        if let fallback { return fallback }
        if url.hosts.count == 1, url.targetSessionAttrs == .any, let only = refusals.first {
            throw ConnectionFailure(description: only)
        }
        throw ConnectionFailure(description:
            "none of the \(url.hosts.count) servers is \(url.targetSessionAttrs.wanted) (target_session_attrs=\(url.targetSessionAttrs.rawValue)): \(refusals.joined(separator: "; "))")
    }
}
