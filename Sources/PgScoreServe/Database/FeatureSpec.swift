import NIOConcurrencyHelpers
import PgScoreNumericText
/// The columns a deployed version reads, from its model's preprocessing
/// (`ml.describe(model)->'info'->'preprocess'->'columns'`): what a JSON object must hold
/// to be scored by `ml.predict(project, jsonb)`, checked here to name every bad feature.
struct FeatureSpec: Sendable, Equatable {
    struct Column: Sendable, Equatable {
        let name: String
        /// As trained: `double precision`, `text`, `boolean`, …
        let declaredType: String
        /// `numeric` or `categorical`
        let kind: String
        /// Texts a numeric column reads as missing ("?", ""), as trained.
        var missing: [String] = []

        /// Types whose JSON strings the server reads with the type's own input function.
        static let parsedByType: Set<String> = [
            "money", "date", "timestamp without time zone", "timestamp with time zone", "interval",
        ]

        /// The kind of JSON value the column takes: float8 and boolean columns are numbers.
        var sqlType: String {
            switch declaredType {
            case "double precision", "real", "smallint", "integer", "bigint", "numeric": "float8"
            case "boolean": "boolean"
            default: "text"
            }
        }

        /// Why the row encoder (extension/row_encoder.c, then the Swift Preprocessor) would
        /// refuse this JSON value, or nil when it scores it: numbers and booleans are
        /// numbers; a string in a numeric column must be numeric text by the one rule
        /// (NumericText) or one of the column's missing markers; a category takes any
        /// scalar; arrays and objects are never features.
        func refusal(of value: JSONValue) -> String? {
            switch value {
            case .null, .number, .bool:
                return nil
            case .string(let text):
                guard kind == "numeric", !Column.parsedByType.contains(declaredType),
                      !missing.contains(text.trimmingSpacesOnly), NumericText.number(text) == nil else { return nil }
                let markers = missing.isEmpty ? "" : " or one of \(missing.prefix(4).map { "\"\($0)\"" }.joined(separator: ", "))"
                return "must be a number\(markers), got the text \"\(text)\""
            default:
                return "must be a number, a string, a boolean or null, got \(value.typeNameWithArticle)"
            }
        }
    }

    let project: String
    let version: Int
    let modelID: Int
    /// `classification` or `regression`
    let task: String
    /// Class labels as ml.predict writes them, in the order of ml.predict_proba.
    let classes: [String]
    let columns: [Column]

    var featureNames: [String] { columns.map(\.name) }

    /// What is wrong with one instance: features it lacks, and features of the wrong JSON type.
    struct Issues: Sendable, Equatable {
        var missing: [String] = []
        var invalid: [(name: String, reason: String)] = []
        var isEmpty: Bool { missing.isEmpty && invalid.isEmpty }

        static func == (lhs: Issues, rhs: Issues) -> Bool {
            lhs.missing == rhs.missing && lhs.invalid.map(\.name) == rhs.invalid.map(\.name)
                && lhs.invalid.map(\.reason) == rhs.invalid.map(\.reason)
        }
    }

    /// JSON null is a missing value, which the model's preprocessing imputes; a key that is
    /// absent is an error. Extra keys are ignored (and kept in the prediction log).
    func check(_ instance: [String: JSONValue]) -> Issues {
        var issues = Issues()
        for column in columns {
            guard let value = instance[column.name] else {
                issues.missing.append(column.name)
                continue
            }
            if let reason = column.refusal(of: value) { issues.invalid.append((column.name, reason)) }
        }
        return issues
    }

    /// Reads the spec from the JSON that the spec query returns.
    init(project: String, version: Int, modelID: Int, task: String, classesJSON: String, columnsJSON: String) throws {
        self.project = project
        self.version = version
        self.modelID = modelID
        self.task = task
        guard case .array(let classValues) = try JSONValue.parse(Array(classesJSON.utf8)) else {
            throw Problem.internalError("version \(version) of \"\(project)\" lists no classes")
        }
        classes = classValues.map { value in
            switch value {
            case .string(let text): text
            case .bool(let flag): flag ? "true" : "false"
            case .number(let number): JSONValue.format(number)
            default: value.serialized
            }
        }
        guard case .array(let columnValues) = try JSONValue.parse(Array(columnsJSON.utf8)), !columnValues.isEmpty else {
            throw Problem.conflict(
                "version \(version) of \"\(project)\" has no preprocessing spec (it was not made by ml.train); score it in SQL with the array form of ml.predict")
        }
        columns = try columnValues.map { value in
            guard case .string(let name)? = value["name"] else {
                throw Problem.internalError("version \(version) of \"\(project)\" has a feature column without a name")
            }
            var declared = "text"
            if case .string(let type)? = value["type"] { declared = type }
            var kind = "numeric"
            if case .string(let k)? = value["kind"] { kind = k }
            var column = Column(name: name, declaredType: declared, kind: kind)
            if case .array(let markers)? = value["missing"] {
                column.missing = markers.compactMap { if case .string(let m) = $0 { m } else { nil } }
            }
            return column
        }
    }

    init(project: String, version: Int, modelID: Int, task: String, classes: [String], columns: [Column]) {
        self.project = project
        self.version = version
        self.modelID = modelID
        self.task = task
        self.classes = classes
        self.columns = columns
    }
}

/// Specs by model: a version never changes (ml.models rows are append-only), so a spec
/// is cached for good, keyed by the model's id.
final class FeatureSpecCache: Sendable {
    private struct Entries {
        var specs: [Int: FeatureSpec] = [:]
        /// The spec last used for each project: tried first, so that a request needs one
        /// round trip (the scoring statement itself refuses it if the deployment changed).
        var latest: [String: FeatureSpec] = [:]
    }

    /// A lock, not an actor: every prediction reads it, and an actor hop is a trip
    /// through the executor (another thread, often) for a dictionary lookup.
    private let entries = NIOLockedValueBox(Entries())
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    func spec(modelID: Int) -> FeatureSpec? { entries.withLockedValue { $0.specs[modelID] } }

    func latest(project: String) -> FeatureSpec? { entries.withLockedValue { $0.latest[project] } }

    func store(_ spec: FeatureSpec) {
        entries.withLockedValue { entries in
            if entries.specs.count >= capacity {
                entries.specs.removeAll(keepingCapacity: true)
                entries.latest.removeAll(keepingCapacity: true)
            }
            entries.specs[spec.modelID] = spec
            entries.latest[spec.project] = spec
        }
    }
}
