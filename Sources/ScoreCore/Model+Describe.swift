extension Model {
    /// A class label as JSON in its SQL type: true/false, a number, or a string.
    public func classJSON(_ i: Int) -> JSONValue {
        let text = String(decoding: classes[i], as: UTF8.self)
        switch labelKind {
        case .boolean: return .bool(text == "true")
        case .integer: return Double(text).map { .number($0) } ?? .string(text)
        case .float8, .text: return .string(text)
        }
    }

    /// What ml.describe() shows: everything needed to read or re-implement the model.
    public var describeJSON: JSONValue {
        var members: [(String, JSONValue)] = [
            ("algorithm", .string(algorithm.name)),
            ("format_version", .number(Double(ModelCodec.formatVersion))),
            ("features", .number(Double(featureCount))),
            ("training_rows", .number(Double(trainingRows))),
            ("label_type", .string(labelKind.name)),
        ]
        if isClassifier {
            members.append(("classes", .array(classes.indices.map(classJSON))))
        }
        func numbers(_ a: [Double]) -> JSONValue { .array(a.map { .number($0) }) }
        switch parameters {
        case let .linear(intercept, coefficients):
            members.append(("intercept", .number(intercept)))
            members.append(("coefficients", numbers(coefficients)))
        case let .logistic(intercepts, coefficients):
            members.append(("intercepts", numbers(intercepts)))
            members.append(("coefficients", .array(coefficients.map(numbers))))
        case let .naiveBayes(prior, means, variances):
            members.append(("class_prior", numbers(prior)))
            members.append(("means", .array(means.map(numbers))))
            members.append(("variances", .array(variances.map(numbers))))
        case let .trees(ensemble):
            ensemble.describe(into: &members, algorithm: algorithm, classCount: classes.count)
        }
        members.append(("options", (try? JSONValue.parse(options)) ?? .object([])))
        if let extra = try? JSONValue.parse(info), case let .object(m) = extra, !m.isEmpty {
            members.append(("info", extra))
        }
        return .object(members)
    }
}
