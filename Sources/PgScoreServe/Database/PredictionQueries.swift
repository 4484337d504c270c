import NIOConcurrencyHelpers
import PostgresNIO

/// The statements behind `POST /v1/projects/{project}/predict`.
enum PredictionQueries {
    struct Deployed: Sendable {
        let version: Int
        let modelID: Int
    }

    /// One scored and logged instance.
    struct Scored: Sendable {
        /// the prediction's public id (`ml.predictions.public_id`, a random UUID): what
        /// feedback names, unguessable unlike the row's sequential id
        let predictionID: String
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
        spec: FeatureSpec, body: String, isBatch: Bool, requestID: String, keyID: Int?, elapsedMilliseconds: Double,
        on connection: PostgresConnection
    ) async throws -> [Scored]? {
        let statement = ScoreAndLog(
            project: spec.project, version: spec.version, body: body, isBatch: isBatch,
            requestID: requestID, keyID: keyID, elapsedMilliseconds: elapsedMilliseconds,
            wantsProbabilities: spec.task == "classification")
        var scored: [Scored] = []
        do {
            for try await row in try await connection.execute(statement, logger: Database.queryLogger) {
                scored.append(row)
            }
        } catch {
            // PostgresNIO remembers a failed PREPARE for the life of the connection and
            // fails every later use of the statement with it. Preparing takes a lock on
            // ml.predictions, so it can fail for a passing reason (a statement timeout
            // behind a lock): such a connection is closed, and the pool opens a fresh one.
            if !preparedConnections.withLockedValue({ $0.contains(connection.id) }) {
                try? await connection.close()
            }
            throw error
        }
        preparedConnections.withLockedValue { _ = $0.insert(connection.id) }
        return scored.isEmpty ? nil : scored
    }

    /// Connections on which ScoreAndLog was prepared (it has run once without error).
    private static let preparedConnections = NIOLockedValueBox(Set<PostgresConnection.ID>())

    /// The per-request statement, the same text for every project and model (the
    /// features are a JSON object scored by `ml.predict(project, jsonb)`), so each pooled
    /// connection parses and plans it once (a named prepared statement).
    struct ScoreAndLog: PostgresPreparedStatement {
        static let name = "pgscore_score_and_log"
        static let sql = """
            WITH scored AS MATERIALIZED (
              SELECT nextval('ml.predictions_id_seq') AS id, e.ord, e.features,
                     ml.predict($1::text, e.features) AS prediction,
                     CASE WHEN $7::bool THEN ml.predict_proba($1::text, e.features) END AS probabilities
                FROM jsonb_array_elements(CASE WHEN $4::bool THEN $3::jsonb -> 'instances'
                                               ELSE jsonb_build_array($3::jsonb) END)
                     WITH ORDINALITY AS e(features, ord)
               WHERE ml.deployed_version($1::text) = $2::int
            ), logged AS (
              INSERT INTO ml.predictions (id, project, version, features, prediction, probabilities, request_id, latency_ms,
                                          key_id)
              SELECT s.id, $1::text, $2::int, s.features, s.prediction, s.probabilities, $5::text,
                     $6::float8 + 1000 * extract(epoch FROM clock_timestamp() - statement_timestamp())::float8, $8::bigint
                FROM scored s ORDER BY s.ord
              RETURNING id, public_id
            )
            SELECT l.public_id::text, s.prediction, s.probabilities FROM scored s JOIN logged l ON l.id = s.id ORDER BY s.ord
            """
        typealias Row = Scored

        let project: String
        let version: Int
        /// the request body as sent: one feature object, or {"instances": [...]}
        let body: String
        let isBatch: Bool
        let requestID: String
        /// the API key that asked (nil under --open-predict): only it may send feedback
        let keyID: Int?
        let elapsedMilliseconds: Double
        let wantsProbabilities: Bool

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 8)
            bindings.append(project)
            bindings.append(version)
            bindings.append(body)
            bindings.append(isBatch)
            bindings.append(requestID)
            bindings.append(elapsedMilliseconds)
            bindings.append(wantsProbabilities)
            bindings.append(keyID)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Scored {
            let (id, prediction, probabilities) = try row.decode((String, String?, [Double]?).self)
            return Scored(predictionID: id, prediction: prediction, probabilities: probabilities)
        }
    }
}
