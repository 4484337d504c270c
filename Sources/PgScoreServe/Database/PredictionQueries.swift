import Foundation
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
        /// feedback names, unguessable unlike the row's sequential id; nil when not logged
        /// (--read-only)
        let predictionID: String?
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

    /// One request to score: its body as sent and what its log rows record.
    struct Request: Sendable {
        let project: String
        let version: Int
        /// the request body as sent: one feature object, or {"instances": [...]}
        let body: String
        let isBatch: Bool
        let requestID: String
        /// the API key that asked (nil under --open-predict): only it may send feedback
        let keyID: Int?
        let arrival: ContinuousClock.Instant
        let wantsProbabilities: Bool
        /// the request's deadline (the batch it joins ends at the earliest of them)
        let deadline: Database.RequestDeadline?
        /// chosen once per HTTP request by the daemon, the same on every try: the public
        /// ids of its log rows are derived from it and its rows' created_at is `loggedAt`,
        /// so a try after a lost connection finds what an earlier try committed (its rows
        /// land in the same daily partition, whose unique index on public_id then refuses
        /// a second copy)
        let attempt: UUID
        let loggedAt: Date
        /// an earlier try may have committed: look for its rows first
        var isRetry = false
    }

    /// Scores the requests' instances, each with its project's deployed version, and logs
    /// each to ml.predictions, in one statement: nothing is answered that is not logged.
    /// Returns one answer per request, in order: nil for a request whose project's
    /// deployment is no longer `version` (a deploy happened meanwhile; nothing of it was
    /// logged): its caller reads the new spec and tries again.
    static func scoreAndLog(_ requests: [Request], logging: Bool = true, on connection: PostgresConnection) async throws -> [[Scored]?] {
        guard logging else { return try await scoreOnly(requests, on: connection) }
        let now = ContinuousClock.now
        let statement = ScoreAndLog(
            projects: requests.map(\.project), versions: requests.map(\.version), bodies: requests.map(\.body),
            isBatch: requests.map(\.isBatch), requestIDs: requests.map(\.requestID),
            elapsedMilliseconds: requests.map { (now - $0.arrival) / .milliseconds(1) },
            wantsProbabilities: requests.map(\.wantsProbabilities),
            keyIDs: requests.map { $0.keyID ?? 0 }, attempts: requests.map(\.attempt),
            loggedAt: requests.map(\.loggedAt), isRetry: requests.map(\.isRetry))
        var answers = [[Scored]](repeating: [], count: requests.count)
        do {
            for try await (index, row) in try await connection.execute(statement, logger: Database.queryLogger) {
                answers[index - 1].append(row)
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
        return answers.map { $0.isEmpty ? nil : $0 }
    }

    /// `--read-only` (a hot standby): the same answers as ``scoreAndLog(_:logging:on:)``,
    /// nothing logged (no prediction id: no feedback, no monitor data for these).
    static func scoreOnly(_ requests: [Request], on connection: PostgresConnection) async throws -> [[Scored]?] {
        let statement = ScoreOnly(
            projects: requests.map(\.project), versions: requests.map(\.version), bodies: requests.map(\.body),
            isBatch: requests.map(\.isBatch), wantsProbabilities: requests.map(\.wantsProbabilities))
        var answers = [[Scored]](repeating: [], count: requests.count)
        for try await (index, row) in try await connection.execute(statement, logger: Database.queryLogger) {
            answers[index - 1].append(row)
        }
        return answers.map { $0.isEmpty ? nil : $0 }
    }

    /// Connections on which ScoreAndLog was prepared (it has run once without error).
    private static let preparedConnections = NIOLockedValueBox(Set<PostgresConnection.ID>())

    /// The statement behind every prediction: a batch of requests as parallel arrays (one
    /// element per request), the same text for every project, model and batch size (the
    /// features are JSON objects scored by `ml.predict(project, jsonb)`), so each pooled
    /// connection parses and plans it once (a named prepared statement). A request whose
    /// project's deployed version is not the one its body was checked against scores and
    /// logs nothing.
    ///
    /// Sent again after a lost connection (a failover), a request may already be logged:
    /// a retry (`is_retry`) returns the rows its earlier try committed instead of scoring
    /// (`earlier`, found by created_at and public_id: one partition's unique index), and
    /// `ON CONFLICT DO NOTHING` keeps a try that commits concurrently from logging twice
    /// (that request then gets no rows, like a changed deployment, and is tried again).
    struct ScoreAndLog: PostgresPreparedStatement {
        static let name = "pgscore_score_and_log"
        static let sql = """
            WITH request AS (
              SELECT r.*
                FROM unnest($1::text[], $2::int8[], $3::text[], $4::bool[], $5::text[], $6::float8[], $7::bool[], $8::int8[],
                            $9::uuid[], $10::timestamptz[], $11::bool[])
                     WITH ORDINALITY AS r(project, version, body, is_batch, request_id, elapsed_ms, wants_probabilities, key_id,
                                          attempt, logged_at, is_retry, i)
            ), earlier AS MATERIALIZED (
              SELECT q.i, e.ord, p.public_id, p.prediction, p.probabilities
                FROM request q,
                     generate_series(1, CASE WHEN q.is_batch THEN jsonb_array_length(q.body::jsonb -> 'instances') ELSE 1 END) AS e(ord),
                     ml.predictions p
               WHERE q.is_retry AND p.created_at = q.logged_at AND p.public_id = md5(q.attempt::text || '/' || e.ord)::uuid
            ), fresh AS (
              SELECT q.*
                FROM request q
               WHERE ml.deployed_version(q.project) = q.version AND NOT EXISTS (SELECT FROM earlier x WHERE x.i = q.i)
            ), scored AS MATERIALIZED (
              SELECT nextval('ml.predictions_id_seq') AS id, q.i, e.ord, e.features, q.project, q.version, q.request_id,
                     q.elapsed_ms, q.key_id, q.logged_at, md5(q.attempt::text || '/' || e.ord)::uuid AS public_id,
                     ml.predict(q.project, e.features) AS prediction,
                     CASE WHEN q.wants_probabilities THEN ml.predict_proba(q.project, e.features) END AS probabilities
                FROM fresh q,
                     jsonb_array_elements(CASE WHEN q.is_batch THEN q.body::jsonb -> 'instances'
                                               ELSE jsonb_build_array(q.body::jsonb) END)
                     WITH ORDINALITY AS e(features, ord)
            ), logged AS (
              INSERT INTO ml.predictions (id, project, version, features, prediction, probabilities, request_id, latency_ms,
                                          created_at, public_id, key_id)
              SELECT s.id, s.project, s.version, s.features, s.prediction, s.probabilities, s.request_id,
                     s.elapsed_ms + 1000 * extract(epoch FROM clock_timestamp() - statement_timestamp())::float8,
                     s.logged_at, s.public_id, nullif(s.key_id, 0)
                FROM scored s ORDER BY s.i, s.ord
              ON CONFLICT DO NOTHING
              RETURNING id
            )
            SELECT a.i, a.public_id::text, a.prediction, a.probabilities
              FROM (SELECT s.i, s.ord, s.public_id, s.prediction, s.probabilities FROM scored s JOIN logged l ON l.id = s.id
                    UNION ALL
                    SELECT x.i, x.ord, x.public_id, x.prediction, x.probabilities FROM earlier x) a
             ORDER BY a.i, a.ord
            """
        typealias Row = (Int, Scored)

        let projects: [String]
        let versions: [Int]
        let bodies: [String]
        let isBatch: [Bool]
        let requestIDs: [String]
        let elapsedMilliseconds: [Double]
        let wantsProbabilities: [Bool]
        /// 0 for no key (--open-predict; key ids start at 1): PostgresNIO encodes no arrays of optionals
        let keyIDs: [Int]
        let attempts: [UUID]
        let loggedAt: [Date]
        let isRetry: [Bool]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 11)
            bindings.append(projects)
            bindings.append(versions)
            bindings.append(bodies)
            bindings.append(isBatch)
            bindings.append(requestIDs)
            bindings.append(elapsedMilliseconds)
            bindings.append(wantsProbabilities)
            bindings.append(keyIDs)
            bindings.append(attempts)
            bindings.append(loggedAt)
            bindings.append(isRetry)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (Int, Scored) {
            let (index, id, prediction, probabilities) = try row.decode((Int, String?, String?, [Double]?).self)
            return (index, Scored(predictionID: id, prediction: prediction, probabilities: probabilities))
        }
    }

    /// ScoreAndLog's scoring without its log: reads only, so a hot standby runs it.
    struct ScoreOnly: PostgresPreparedStatement {
        static let name = "pgscore_score_only"
        static let sql = """
            SELECT q.i, NULL::text, ml.predict(q.project, e.features),
                   CASE WHEN q.wants_probabilities THEN ml.predict_proba(q.project, e.features) END
              FROM unnest($1::text[], $2::int8[], $3::text[], $4::bool[], $5::bool[])
                   WITH ORDINALITY AS q(project, version, body, is_batch, wants_probabilities, i),
                   jsonb_array_elements(CASE WHEN q.is_batch THEN q.body::jsonb -> 'instances'
                                             ELSE jsonb_build_array(q.body::jsonb) END)
                   WITH ORDINALITY AS e(features, ord)
             WHERE ml.deployed_version(q.project) = q.version
             ORDER BY q.i, e.ord
            """
        typealias Row = (Int, Scored)

        let projects: [String]
        let versions: [Int]
        let bodies: [String]
        let isBatch: [Bool]
        let wantsProbabilities: [Bool]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(projects)
            bindings.append(versions)
            bindings.append(bodies)
            bindings.append(isBatch)
            bindings.append(wantsProbabilities)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (Int, Scored) {
            let (index, id, prediction, probabilities) = try row.decode((Int, String?, String?, [Double]?).self)
            return (index, Scored(predictionID: id, prediction: prediction, probabilities: probabilities))
        }
    }
}
