import Hummingbird
import NIOCore

extension Gateway {
    /// `/healthz` (the process answers), `/readyz` (the database answers, takes writes
    /// unless --read-only, and has a compatible pgscore extension; names the server the
    /// pools are on, after a failover the new primary), `/metrics` (Prometheus).
    /// No key needed.
    func addHealthRoutes(to router: Router<GatewayContext>) {
        router.get("/healthz") { _, _ -> Response in
            .json(.fields(("status", "ok")))
        }

        router.get("/readyz") { _, _ -> Response in
            // Which server the pool reached, as that server sees itself, and whether it takes
            // writes: behind a failover manager the same address may now be a standby.
            let state: (String?, String, Bool)?
            do {
                state = try await database.withConnection { connection in
                    try await connection.firstRow("""
                        SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pgscore'),
                               coalesce(host(inet_server_addr()) || ':' || inet_server_port(),
                                        'unix socket, port ' || current_setting('port')),
                               NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'
                        """, as: (String?, String, Bool).self)
                }
            } catch {
                throw Problem.unavailable("the database is not reachable: \(Problem.from(database: error)?.detail ?? "\(error)")", retryAfter: 2)
            }
            guard let (installed, server, writable) = state else {
                throw Problem.unavailable("the database answered nothing", retryAfter: 2)
            }
            guard writable || readOnly else {
                throw Problem.unavailable(
                    "the database server \(server) is read-only (a hot standby, or default_transaction_read_only): predictions cannot be logged there",
                    retryAfter: 2)
            }
            guard let installed else {
                throw Problem.unavailable("the pgscore extension is not installed in this database (CREATE EXTENSION pgscore)", retryAfter: 10)
            }
            guard installed.hasPrefix(GatewayVersion.compatibleExtension) else {
                throw Problem.unavailable(
                    "the pgscore extension is version \(installed); this daemon (\(GatewayVersion.daemon)) needs \(GatewayVersion.compatibleExtension)x",
                    retryAfter: 60)
            }
            if let jobs, !jobs.isAccepting {
                throw Problem.unavailable("the daemon is shutting down")
            }
            return .json(.fields(("status", "ready"), ("extension_version", .string(installed)),
                                 ("daemon_version", .string(GatewayVersion.daemon)),
                                 ("server", .string(server)), ("writable", .bool(writable)),
                                 ("read_only", .bool(readOnly))))
        }

        router.get("/metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeString(metrics.exposition())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
    }
}
