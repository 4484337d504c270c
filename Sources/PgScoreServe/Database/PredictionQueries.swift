import PostgresNIO

/// The statements behind `POST /v1/projects/{project}/predict`.
enum PredictionQueries {
    struct Deployed: Sendable {
        let version: Int
        let modelID: Int
    }

    /// One scored and logged instance.
    struct Scored: Sendable {
        let predictionID: Int
        let prediction: String?
        let probabilities: [Double]?
    }

    /// The deployed version of `project`; nil when none is. An unknown project raises
    /// SQLSTATE 42704 (404).
    static func deployed(project: String, on connection: PostgresConnection) async throws -> Deployed? {
        let row = try await connection.firstRow(
            """
            SELECT v, m.id
              FROM ml.deployed_version(\(project)) v
              LEFT JOIN ml.projects p ON p.name = \(project)
              LEFT JOIN ml.models m ON m.project_id = p.id AND m.version = v
            """, as: (Int?, Int?).self)
        guard let (version, modelID) = row, let version, let modelID else { return nil }
        return Deployed(version: version, modelID: modelID)
    }

    static func spec(project: String, deployed: Deployed, on connection: PostgresConnection) async throws -> FeatureSpec {
        let row = try await connection.firstRow(
            """
            SELECT coalesce(d -> 'info' ->> 'task', p.task),
                   coalesce((SELECT jsonb_agg(c #>> '{}') FROM jsonb_array_elements(d -> 'classes') c), '[]')::text,
                   coalesce(d -> 'info' -> 'preprocess' -> 'columns', '[]')::text
              FROM ml.models m JOIN ml.projects p ON p.id = m.project_id, ml.describe(m.model) d
             WHERE m.id = \(deployed.modelID)
            """, as: (String, String, String).self)
        if let (task, classes, columns) = row {
            return try FeatureSpec(project: project, version: deployed.version, modelID: deployed.modelID,
                                   task: task, classesJSON: classes, columnsJSON: columns)
        }
        throw Problem.conflict("version \(deployed.version) of \"\(project)\" was removed while it was being read; try again")
    }

    /// Scores the instances with the deployed version and logs each to ml.predictions, in
    /// one statement: nothing is answered that is not logged. Returns nil when the
    /// deployment is no longer `spec.version` (a deploy happened meanwhile): the caller
    /// reads the new spec and tries again.
    static func scoreAndLog(
        spec: FeatureSpec, instancesJSON: String, requestID: String, elapsedMilliseconds: Double,
        on connection: PostgresConnection
    ) async throws -> [Scored]? {
        let project = spec.project, version = spec.version
        let probabilities = spec.task == "classification" ? "ml.predict_proba(p.project, r)" : "NULL::float8[]"
        let query: PostgresQuery = """
            WITH p AS (SELECT \(project)::text AS project, \(version)::int AS version),
            scored AS MATERIALIZED (
              SELECT nextval('ml.predictions_id_seq') AS id, e.ord, e.features,
                     ml.predict(p.project, r) AS prediction, \(unescaped: probabilities) AS probabilities
                FROM p, jsonb_array_elements(\(instancesJSON)::jsonb) WITH ORDINALITY AS e(features, ord),
                     jsonb_to_record(e.features) AS r(\(unescaped: spec.recordDefinition))
               WHERE ml.deployed_version(p.project) = p.version
            ), logged AS (
              INSERT INTO ml.predictions (id, project, version, features, prediction, probabilities, request_id, latency_ms)
              SELECT s.id, p.project, p.version, s.features, s.prediction, s.probabilities, \(requestID),
                     \(elapsedMilliseconds)::float8 + 1000 * extract(epoch FROM clock_timestamp() - statement_timestamp())::float8
                FROM scored s, p ORDER BY s.ord
              RETURNING id
            )
            SELECT s.id, s.prediction, s.probabilities FROM scored s JOIN logged l ON l.id = s.id ORDER BY s.ord
            """
        let rows = try await connection.query(query, logger: Database.queryLogger)
        var scored: [Scored] = []
        for try await (id, prediction, probabilities) in rows.decode((Int, String?, [Double]?).self) {
            scored.append(Scored(predictionID: id, prediction: prediction, probabilities: probabilities))
        }
        return scored.isEmpty ? nil : scored
    }
}
