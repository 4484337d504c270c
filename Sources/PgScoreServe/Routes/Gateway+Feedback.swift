import Hummingbird

extension Gateway {
    /// `POST /v1/predictions/{id}/feedback` `{"label": ...}`: the ground truth of a logged
    /// prediction, stored as text written the way ml.predict writes labels. `id` is the
    /// prediction's public id (a random UUID); only the key that made the prediction (or an
    /// admin key of its project) may send it: 404 for anyone else, as for an unknown id.
    func addFeedbackRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/predictions/{id}/feedback") { request, context -> Response in
            let caller = try await authenticator.require(.predict, request, context, openRoute: true)
            let predictionID = context.parameters.get("id") ?? ""
            guard Self.isUUID(predictionID) else {
                throw Problem.notFound("prediction \"\(predictionID)\" does not exist (ids are the UUIDs predict answers with)")
            }
            let body = try await jsonBody(of: request)
            guard let fields = body.objectValue else {
                throw Problem.badRequest("the body must be a JSON object {\"label\": ...}; got \(body.typeNameWithArticle)")
            }
            let label: String
            switch fields["label"] {
            case .string(let text)?: label = text
            case .bool(let flag)?: label = flag ? "true" : "false"
            case .number(let number)?: label = JSONValue.format(number)
            case nil, .null?:
                throw Problem.validation("\"label\" is required: the true label of the prediction", [("missing", ["label"])])
            case let other?:
                throw Problem.validation("\"label\" must be a string, a number or a boolean, got \(other.typeNameWithArticle)")
            }
            let row = try await database.withTransaction { connection in
                try await connection.firstRow(
                    """
                    INSERT INTO ml.feedback (prediction_id, prediction_created_at, label)
                    SELECT p.id, p.created_at, \(label) FROM ml.predictions p
                     WHERE p.public_id = \(predictionID)::uuid
                       AND (p.key_id IS NOT DISTINCT FROM \(caller.keyID)::bigint OR \(caller.isAdmin))
                       AND (\(caller.projects)::text[] IS NULL OR p.project = ANY (\(caller.projects)::text[]))
                    RETURNING id, to_jsonb(created_at) #>> '{}'
                    """, as: (Int, String).self)
            }
            guard let (id, created) = row else {
                throw Problem.notFound("prediction \(predictionID) does not exist")
            }
            return .json(.fields(("id", .string(String(id))), ("prediction_id", .string(predictionID)),
                                 ("label", .string(label)), ("created_at", .string(created))),
                         status: .created)
        }
    }

    /// 8-4-4-4-12 hexadecimal digits: what PostgreSQL's uuid prints.
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        return bytes.enumerated().allSatisfy { index, byte in
            [8, 13, 18, 23].contains(index) ? byte == UInt8(ascii: "-")
                : (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
        }
    }
}
