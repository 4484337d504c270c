import Hummingbird

extension Gateway {
    /// `POST /v1/predictions/{id}/feedback` `{"label": ...}`: the ground truth of a logged
    /// prediction, stored as text written the way ml.predict writes labels.
    func addFeedbackRoutes(to router: Router<GatewayContext>) {
        router.post("/v1/predictions/{id}/feedback") { request, context -> Response in
            try await authenticator.require(.predict, request, openRoute: true)
            let predictionID = try integerParameter("id", context, what: "prediction")
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
                    INSERT INTO ml.feedback (prediction_id, label)
                    SELECT p.id, \(label) FROM ml.predictions p WHERE p.id = \(predictionID)
                    RETURNING id, to_jsonb(created_at) #>> '{}'
                    """, as: (Int, String).self)
            }
            guard let (id, created) = row else {
                throw Problem.notFound("prediction \(predictionID) does not exist")
            }
            return .json(.fields(("id", .string(String(id))), ("prediction_id", .string(String(predictionID))),
                                 ("label", .string(label)), ("created_at", .string(created))),
                         status: .created)
        }
    }
}
