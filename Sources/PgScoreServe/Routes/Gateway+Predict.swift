import Foundation
import Hummingbird

extension Gateway {
    /// `POST /v1/projects/{project}/predict`: one JSON object of named features, or
    /// `{"instances": [...]}`. The body is checked against the deployed version's
    /// features here (a 422 names every bad one), then each instance is scored by
    /// `ml.predict(project, jsonb)` and logged to `ml.predictions` in one prepared
    /// statement, shared with the requests that queued behind the ones in flight
    /// (``PredictionBatcher``), and answered once its commit is confirmed.
    func addPredictRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/projects/{project}/predict") { request, context -> Response in
            let caller = try await authenticator.require(.predict, request, context, openRoute: true)
            let project = try projectName(context)
            let (body, text) = try await jsonBodyAndText(of: request)
            let (instances, isBatch) = try Self.instances(in: body)
            let requestID = context.requestID, arrival = context.arrival, deadline = Database.deadline
            // one per HTTP request, the same on every try (see PredictionQueries.Request)
            let attempt = UUID(), loggedAt = Date()
            let scoring: @Sendable (FeatureSpec) -> PredictionQueries.Request = { spec in
                PredictionQueries.Request(
                    project: project, version: spec.version, body: text, isBatch: isBatch, requestID: requestID,
                    keyID: caller.keyID, arrival: arrival, wantsProbabilities: spec.task == "classification",
                    deadline: deadline, attempt: attempt, loggedAt: loggedAt)
            }
            // Steady state: the spec last used for the project, batched with other requests.
            // Nothing is scored if another version is deployed now; then look it up. (A body
            // that does not fit it takes the full path: a newer version may have other
            // columns, and the 422 must name the deployed version's.)
            let spec: FeatureSpec, scored: [PredictionQueries.Scored]
            if let latest = specs.latest(project: project),
               (try? Self.check(instances, against: latest, isBatch: isBatch)) != nil,
               let rows = try await batcher.submit(scoring(latest)) {
                (spec, scored) = (latest, rows)
            } else {
                (spec, scored) = try await scoreWithDeployedVersion(
                    project: project, instances: instances, isBatch: isBatch, scoring: scoring)
            }
            metrics.recordPredictions(project: project, count: scored.count)
            let answers = scored.map { Self.answer($0, spec: spec) }
            if isBatch {
                return .json(.fields(("predictions", .array(answers)), ("version", .number(Double(spec.version)))))
            }
            return .json(answers[0])
        }
    }

    /// Looks up the deployed version's spec, checks the body against it, and scores alone
    /// (not batched): the first request after a start or a deploy. A deploy between
    /// reading the spec and scoring makes the guarded statement score nothing; then the
    /// new spec is read and the request scored again.
    private func scoreWithDeployedVersion(
        project: String, instances: [[String: JSONValue]], isBatch: Bool,
        scoring: @escaping @Sendable (FeatureSpec) -> PredictionQueries.Request
    ) async throws -> (FeatureSpec, [PredictionQueries.Scored]) {
        let (specs, database, logs) = (self.specs, self.database, !self.readOnly)
        return try await database.retryingWhileServerLost(deadline: Database.deadline) { _ in
            try await database.withPossibleWrite(writes: logs) { connection in
                for _ in 0..<3 {
                    guard let deployed = try await PredictionQueries.deployed(project: project, on: connection) else {
                        throw Problem.conflict("project \"\(project)\" has no deployed version; deploy one (POST /v1/projects/\(project)/deploy)")
                    }
                    let spec: FeatureSpec
                    if let cached = specs.spec(modelID: deployed.modelID) {
                        spec = cached
                    } else {
                        spec = try await PredictionQueries.spec(project: project, deployed: deployed, on: connection)
                        specs.store(spec)
                    }
                    try Self.check(instances, against: spec, isBatch: isBatch)
                    // (the batched try, or a try before a lost connection, may have logged it)
                    var request = scoring(spec)
                    request.isRetry = true
                    if let scored = try await PredictionQueries.scoreAndLog([request], logging: logs, on: connection)[0] {
                        return (spec, scored)
                    }
                }
                throw Problem.unavailable("the deployment of \"\(project)\" kept changing while scoring; try again")
            }
        }
    }

    /// The instances of a request body, and whether it was a batch.
    static func instances(in body: JSONValue) throws -> ([[String: JSONValue]], Bool) {
        guard let object = body.objectValue else {
            throw Problem.badRequest("the body must be a JSON object of features, or {\"instances\": [...]}; got \(body.typeNameWithArticle)")
        }
        guard let batch = object["instances"], object.count == 1 else {
            return ([object], false)
        }
        guard case .array(let values) = batch else {
            throw Problem.validation("\"instances\" must be an array of feature objects, got \(batch.typeNameWithArticle)")
        }
        guard !values.isEmpty else {
            throw Problem.validation("\"instances\" is empty; send at least one feature object")
        }
        let instances = try values.enumerated().map { index, value -> [String: JSONValue] in
            guard let fields = value.objectValue else {
                throw Problem.validation("instances[\(index)] must be an object of features, got \(value.typeNameWithArticle)")
            }
            return fields
        }
        return (instances, true)
    }

    /// 422 naming every missing and every ill-typed feature (of the first bad instance).
    static func check(_ instances: [[String: JSONValue]], against spec: FeatureSpec, isBatch: Bool) throws {
        for (index, instance) in instances.enumerated() {
            let issues = spec.check(instance)
            guard !issues.isEmpty else { continue }
            var parts: [String] = []
            if !issues.missing.isEmpty { parts.append("missing \(issues.missing.joined(separator: ", "))") }
            for invalid in issues.invalid { parts.append("\(invalid.name) \(invalid.reason)") }
            let prefix = isBatch ? "instances[\(index)]: " : ""
            var extra: [(String, JSONValue)] = [
                ("missing_features", .array(issues.missing.map { .string($0) })),
                ("invalid_features", .array(issues.invalid.map { .fields(("name", .string($0.name)), ("reason", .string($0.reason))) })),
                ("expected_features", .array(spec.featureNames.map { .string($0) })),
            ]
            if isBatch { extra.append(("instance_index", .number(Double(index)))) }
            throw Problem.validation(
                "\(prefix)\(parts.joined(separator: "; ")) (version \(spec.version) of \"\(spec.project)\" reads \(spec.featureNames.joined(separator: ", ")))",
                extra)
        }
    }

    static func answer(_ scored: PredictionQueries.Scored, spec: FeatureSpec) -> JSONValue {
        var fields: [(String, JSONValue)] = [("prediction", .optional(scored.prediction))]
        if let probabilities = scored.probabilities {
            fields.append(("probabilities", .fields(zip(spec.classes, probabilities).map { ($0, .number($1)) })))
        }
        fields.append(("version", .number(Double(spec.version))))
        if let id = scored.predictionID { fields.append(("prediction_id", .string(id))) }
        return .fields(fields)
    }
}
