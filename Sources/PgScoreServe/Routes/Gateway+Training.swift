import Hummingbird

extension Gateway {
    /// `POST /v1/projects/{project}/train` queues a run in `ml.training_runs` and answers
    /// 202 with its id; a daemon's job runner (this one or another replica, now or when
    /// one starts) trains it. `GET /v1/runs/{id}` tells how it went.
    func addTrainingRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/projects/{project}/train") { request, context -> Response in
            try await authenticator.require(.train, request, context)
            let project = try projectName(context)
            let body = try await jsonBody(of: request)
            let requestID = context.requestID
            let runID = try await database.withTransaction { connection -> Int in
                // parameters left out are those of the project's last successful run
                let previousParams = try await connection.firstRow(
                    """
                    SELECT params::text FROM ml.training_runs
                     WHERE project = \(project) AND status = 'succeeded' ORDER BY id DESC LIMIT 1
                    """, as: String.self)
                let previous = previousParams.flatMap { try? JSONValue.parse(Array($0.utf8)) }
                let parameters = try TrainingRequest(body: body, previous: previous)
                let exists = try await connection.firstRow(
                    "SELECT to_regclass(\(parameters.source)) IS NOT NULL", as: Bool.self)
                guard exists == true else {
                    throw Problem.validation("source \"\(parameters.source)\" is not a table or view in this database")
                }
                // an API key trains only on what the project's admin (or the source's
                // owner, for every project) allowed: SELECT ml.allow_source(project, source)
                let allowed = try await connection.firstRow(
                    "SELECT ml._source_allowed(\(project), to_regclass(\(parameters.source)))", as: Bool.self)
                guard allowed == true else {
                    throw Problem.forbidden(
                        "source \"\(parameters.source)\" is not an allowed training source of project \"\(project)\"; an admin of the project can allow it: SELECT ml.allow_source('\(project)', '\(parameters.source)')")
                }
                // ml.enqueue_run checks the source for this daemon's role and notifies every
                // daemon's job runner (NOTIFY pgscore_jobs) once it commits
                let recorded = try await connection.firstRow(
                    """
                    SELECT ml.enqueue_run(\(project), \(parameters.json.serialized)::jsonb, 'manual',
                                          'asked for through the gateway')
                    """, as: Int.self)
                if let id = recorded {
                    try await connection.execute("UPDATE ml.training_runs SET request_id = \(requestID) WHERE id = \(id)")
                }
                if let id = recorded {
                    jobs?.wake()
                    return id
                }
                throw Problem.internalError("the training run was not recorded")
            }
            return .json(.fields(("run_id", .string(String(runID))), ("status", "queued"),
                                 ("location", .string("/v1/runs/\(runID)"))),
                         status: .accepted, headers: [.location: "/v1/runs/\(runID)"])
        }

        router.get("/v1/runs/{id}") { request, context -> Response in
            let caller = try await authenticator.require(.train, request, context)
            let runID = try integerParameter("id", context, what: "training run")
            let json = try await queryJSON(
                """
                SELECT jsonb_build_object('id', r.id::text, 'project', r.project, 'status', r.status, 'error', r.error,
                                          'params', r.params, 'version', r.version, 'result', r.result,
                                          'request_id', r.request_id, 'created_at', r.created_at,
                                          'started_at', r.started_at, 'finished_at', r.finished_at)::text
                  FROM ml.training_runs r
                 WHERE r.id = \(runID) AND (\(caller.projects)::text[] IS NULL OR r.project = ANY (\(caller.projects)::text[]))
                """)
            guard let json else { throw Problem.notFound("training run \(runID) does not exist") }
            return rawJSON(json)
        }
    }
}
