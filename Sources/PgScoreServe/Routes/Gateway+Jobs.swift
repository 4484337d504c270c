import Hummingbird
import PostgresNIO

extension Gateway {
    /// Event-driven training data in, and what the job runner and the monitors did, out:
    /// labelled records for a project's event policy, its runs, schedules, evaluations
    /// over time, feature drift and monitor actions (the ml views, as JSON).
    func addJobRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/projects/{project}/records") { request, context -> Response in
            try await authenticator.require(.train, request, context)
            let project = try projectName(context)
            let (body, text) = try await jsonBodyAndText(of: request)
            let records: String
            switch body {
            case .object(let members) where members.count == 1 && members[0].0 == "records":
                guard case .array(let values) = members[0].1, !values.isEmpty else {
                    throw Problem.validation("\"records\" must be a non-empty array of labelled records")
                }
                records = members[0].1.serialized
            case .object, .array:
                records = text
            default:
                throw Problem.badRequest(
                    "the body must be a labelled record (a JSON object), an array of them or {\"records\": [...]}; got \(body.typeNameWithArticle)")
            }
            let accepted = try await database.withTransaction { connection in
                try await connection.firstRow(
                    "SELECT ml.add_records(\(project), \(records)::jsonb)::bigint", as: Int.self)
            }
            jobs?.wake()
            return .json(.fields(("project", .string(project)), ("accepted", .optional(accepted))), status: .accepted)
        }

        router.get("/v1/projects/{project}/runs") { request, context -> Response in
            // runs carry their errors, which may quote data values: train scope
            try await listView(request, context, key: "runs", view: "ml.run_history", order: "v.run DESC", scope: .train)
        }
        router.get("/v1/projects/{project}/schedules") { request, context -> Response in
            try await listView(request, context, key: "schedules", view: "ml.schedule_overview", order: "v.schedule")
        }
        router.get("/v1/projects/{project}/evaluations") { request, context -> Response in
            try await listView(request, context, key: "evaluations", view: "ml.evaluation_history",
                               order: "v.window_end DESC, v.version DESC")
        }
        router.get("/v1/projects/{project}/drift") { request, context -> Response in
            try await listView(request, context, key: "drift", view: "ml.drift_report", order: "v.feature")
        }
        router.get("/v1/projects/{project}/actions") { request, context -> Response in
            try await listView(request, context, key: "actions", view: "ml.action_history", order: "v.created_at DESC")
        }
    }

    /// `{"project": ..., "<key>": [rows of the view for the project]}`, newest first or
    /// by `order`, at most `?limit=` rows; 404 for a project nothing is known of.
    private func listView(_ request: Request, _ context: GatewayContext, key: String, view: String, order: String,
                          scope: Scope = .predict) async throws -> Response
    {
        try await authenticator.require(scope, request, context)
        let project = try projectName(context)
        let limit = try limitParameter(request)
        let json = try await queryJSON(
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM ml.projects WHERE name = \(project))
                          OR EXISTS (SELECT 1 FROM ml.training_runs WHERE project = \(project))
                          OR EXISTS (SELECT 1 FROM ml.schedules WHERE project = \(project))
                   THEN coalesce((SELECT jsonb_agg(to_jsonb(v) - 'project' ORDER BY \(unescaped: order))
                                    FROM (SELECT * FROM \(unescaped: view) v WHERE v.project = \(project)
                                           ORDER BY \(unescaped: order) LIMIT \(limit)) v), '[]')::text END
            """)
        guard let json else { throw Problem.notFound("project \"\(project)\" does not exist") }
        var out = "{\"project\":"
        JSONValue.writeString(project, to: &out)
        out += ",\"\(key)\":" + json + "}"
        return rawJSON(out)
    }

    /// `?limit=n`: 1...1000, default 100.
    func limitParameter(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 100 }
        guard let limit = Int(text), (1...1000).contains(limit) else {
            throw Problem.badRequest("limit must be an integer from 1 to 1000, got \"\(text)\"")
        }
        return limit
    }
}
