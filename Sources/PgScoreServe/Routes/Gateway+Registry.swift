import Hummingbird
import NIOCore
import PostgresNIO

extension Gateway {
    /// Projects, versions, deployments and exports: the registry views and functions as JSON.
    func addRegistryRoutes(to router: Router<GatewayContext>) {
        router.get("/v1/projects") { request, context -> Response in
            let caller = try await authenticator.require(.predict, request, context)
            let json = try await queryJSON(
                """
                SELECT coalesce(jsonb_agg(to_jsonb(o) ORDER BY o.project), '[]')::text FROM ml.project_overview o
                 WHERE \(caller.projects)::text[] IS NULL OR o.project = ANY (\(caller.projects)::text[])
                """)
            return rawJSON(wrapping: "projects", json)
        }

        router.get("/v1/projects/{project}/versions") { request, context -> Response in
            try await authenticator.require(.predict, request, context)
            let project = try projectName(context)
            let json = try await queryJSON(
                """
                SELECT CASE WHEN EXISTS (SELECT 1 FROM ml.projects WHERE name = \(project))
                       THEN coalesce((SELECT jsonb_agg(to_jsonb(v) - 'project' ORDER BY v.version)
                                        FROM ml.versions v WHERE v.project = \(project)), '[]')::text END
                """)
            guard let json else { throw Problem.notFound("project \"\(project)\" does not exist") }
            var out = "{\"project\":"
            JSONValue.writeString(project, to: &out)
            return rawJSON(out + ",\"versions\":" + json + "}")
        }

        router.post("/v1/projects/{project}/deploy") { request, context -> Response in
            let caller = try await authenticator.require(.admin, request, context)
            let project = try projectName(context)
            let body = try await jsonBody(of: request)
            guard let fields = body.objectValue else {
                throw Problem.badRequest("the body must be a JSON object: {\"strategy\": \"best_score\"} or {\"version\": 3}; got \(body.typeNameWithArticle)")
            }
            var strategy = "best_score"
            var version: Int?
            switch fields["version"] {
            case nil, .null?: break
            case .number(let number)? where number == number.rounded() && number >= 1 && number <= 2_147_483_647:
                version = Int(number)
                strategy = "version"
            case let other?:
                throw Problem.validation("\"version\" must be a positive integer, got \(other.serialized)")
            }
            switch fields["strategy"] {
            case nil, .null?: break
            case .string(let name)? where ["best_score", "most_recent", "rollback", "version"].contains(name):
                if version != nil && name != "version" {
                    throw Problem.validation("give either \"strategy\" or \"version\", not both")
                }
                strategy = name
            case let other?:
                throw Problem.validation("\"strategy\" must be best_score, most_recent or rollback, got \(other.serialized)")
            }
            if strategy == "version" && version == nil {
                throw Problem.validation("strategy \"version\" needs \"version\": N", [("missing", ["version"])])
            }
            return try await deploy(project: project, strategy: strategy, version: version, requestedBy: caller.keyName)
        }

        router.post("/v1/projects/{project}/rollback") { request, context -> Response in
            let caller = try await authenticator.require(.admin, request, context)
            let project = try projectName(context)
            return try await deploy(project: project, strategy: "rollback", version: nil, requestedBy: caller.keyName)
        }

        router.get("/v1/projects/{project}/versions/{version}/export") { request, context -> Response in
            try await authenticator.require(.train, request, context)
            let project = try projectName(context)
            let version = try integerParameter("version", context, what: "version")
            return try await exportResponse(project: project, version: version,
                                            format: request.uri.queryParameters.get("format") ?? "onnx")
        }
    }

    /// `ml.export` of a version as a download (`format`: onnx or json); also the dashboard's download links.
    func exportResponse(project: String, version: Int, format: String) async throws -> Response {
        guard format == "onnx" || format == "json" else {
            throw Problem.validation("format must be onnx or json, got \"\(format)\"")
        }
        let file = try await database.withConnection { connection in
            try await connection.firstRow("SELECT ml.export(\(project), \(version)::int, \(format))", as: ByteBuffer?.self)
        }
        guard let file, let bytes = file else { throw Problem.notFound("version \(version) of \"\(project)\" has nothing to export") }
        let filename = "\(project)-v\(version).\(format)"
        return Response(
            status: .ok,
            headers: [
                .contentType: format == "onnx" ? "application/octet-stream" : "application/json",
                .contentDisposition: "attachment; filename=\"\(filename)\"",
            ],
            body: .init(byteBuffer: bytes))
    }

    /// `ml.deploy`, then the deployment it appended (a second statement: the first's
    /// insert is not visible to the statement that made it), in one transaction.
    /// `requestedBy`: the API key's name, recorded as who asked the daemon's role.
    private func deploy(project: String, strategy: String, version: Int?, requestedBy: String?) async throws -> Response {
        let json = try await database.withTransaction { connection in
            try await connection.execute("SELECT ml.deploy(\(project), \(strategy), \(version)::int, \(requestedBy)::text)")
            return try await connection.firstRow(
                """
                SELECT jsonb_build_object('project', p.name, 'version', d.version, 'strategy', d.strategy,
                                          'replaced_version', d.replaced_version, 'reason', d.reason,
                                          'deployed_at', d.deployed_at, 'deployed_by', d.deployed_by,
                                          'requested_by', d.requested_by)::text
                  FROM ml.deployments d JOIN ml.projects p ON p.id = d.project_id
                 WHERE p.name = \(project) ORDER BY d.id DESC LIMIT 1
                """, as: String.self)
        }
        guard let json else { throw Problem.internalError("ml.deploy recorded no deployment") }
        return rawJSON(json)
    }

    /// A statement returning one JSON text (or NULL).
    func queryJSON(_ query: PostgresQuery) async throws -> String? {
        let row = try await database.withConnection { connection in
            try await connection.firstRow(query, as: String?.self)
        }
        return row ?? nil
    }

    func rawJSON(_ json: String?, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(json ?? "null")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// `{"<key>": <json>}` around JSON text from the database.
    func rawJSON(wrapping key: String, _ json: String?) -> Response {
        var out = "{"
        JSONValue.writeString(key, to: &out)
        out += ":" + (json ?? "null") + "}"
        return rawJSON(out)
    }
}
