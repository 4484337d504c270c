import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// Runs a named prepared statement (parsed and planned once per connection) with the
/// rows it gives. PostgresNIO remembers a failed PREPARE for the life of the connection
/// and fails every later use of the statement with it; preparing can fail for a passing
/// reason (a lock wait past the statement timeout), so a connection on which the
/// statement never ran is closed after an error and the pool opens a fresh one.
enum PreparedOnce {
    /// (statement name, connection) pairs on which the statement has run without error.
    private static let prepared = NIOLockedValueBox(Set<String>())

    static func rows<Statement: PostgresPreparedStatement>(
        _ statement: Statement, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Statement.Row] {
        let key = "\(Statement.name)/\(connection.id)"
        var rows: [Statement.Row] = []
        do {
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
        } catch {
            if !prepared.withLockedValue({ $0.contains(key) }) { try? await connection.close() }
            throw error
        }
        prepared.withLockedValue { _ = $0.insert(key) }
        return rows
    }
}
