import Hummingbird
import NIOCore

extension Gateway {
    /// `/healthz` (the process answers), `/readyz` (the database answers and has a
    /// compatible pgscore extension), `/metrics` (Prometheus). No key needed.
    func addHealthRoutes(to router: Router<GatewayContext>) {
        router.get("/healthz") { _, _ -> Response in
            .json(.fields(("status", "ok")))
        }

        router.get("/readyz") { _, _ -> Response in
            let installed: String?
            do {
                installed = try await database.withConnection { connection in
                    try await connection.firstRow("SELECT extversion FROM pg_extension WHERE extname = 'pgscore'", as: String.self)
                }
            } catch {
                throw Problem.unavailable("the database is not reachable: \(Problem.from(database: error)?.detail ?? "\(error)")", retryAfter: 2)
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
                                 ("daemon_version", .string(GatewayVersion.daemon))))
        }

        router.get("/metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeString(metrics.exposition())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
    }
}
