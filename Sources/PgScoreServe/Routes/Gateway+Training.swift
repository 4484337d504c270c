import Hummingbird

extension Gateway {
    /// `POST /v1/projects/{project}/train` records a run, queues it and answers 202 with
    /// its id; `GET /v1/runs/{id}` tells how it went.
    func addTrainingRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/projects/{project}/train") { request, context -> Response in
            try await authenticator.require(.train, request)
            let project = try projectName(context)
            let body = try await jsonBody(of: request)
            guard let training, training.isAccepting else {
                throw Problem.unavailable("this daemon is not accepting training runs (it is shutting down)", retryAfter: 5)
            }
            let requestID = context.requestID
            let runID = try await database.withConnection { connection -> Int in
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
                let recorded = try await connection.firstRow(
                    """
                    INSERT INTO ml.training_runs (project, params, request_id)
                    VALUES (\(project), \(parameters.json.serialized)::jsonb, \(requestID)) RETURNING id
                    """, as: Int.self)
                // queued once the insert has committed (the row stream is read to its end)
                if let id = recorded {
                    guard training.submit(.init(runID: id, project: project, request: parameters)) else {
                        try await connection.execute(
                            "UPDATE ml.training_runs SET status = 'failed', error = 'the daemon shut down', finished_at = now() WHERE id = \(id)")
                        throw Problem.unavailable("this daemon is not accepting training runs (it is shutting down)", retryAfter: 5)
                    }
                    return id
                }
                throw Problem.internalError("the training run was not recorded")
            }
            return .json(.fields(("run_id", .string(String(runID))), ("status", "queued"),
                                 ("location", .string("/v1/runs/\(runID)"))),
                         status: .accepted, headers: [.location: "/v1/runs/\(runID)"])
        }

        router.get("/v1/runs/{id}") { request, context -> Response in
            try await authenticator.require(.train, request)
            let runID = try integerParameter("id", context, what: "training run")
            let json = try await queryJSON(
                """
                SELECT jsonb_build_object('id', r.id::text, 'project', r.project, 'status', r.status, 'error', r.error,
                                          'params', r.params, 'version', r.version, 'result', r.result,
                                          'request_id', r.request_id, 'created_at', r.created_at,
                                          'started_at', r.started_at, 'finished_at', r.finished_at)::text
                  FROM ml.training_runs r WHERE r.id = \(runID)
                """)
            guard let json else { throw Problem.notFound("training run \(runID) does not exist") }
            return rawJSON(json)
        }
    }
}
