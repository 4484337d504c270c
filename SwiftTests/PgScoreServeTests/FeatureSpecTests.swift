import Testing

@testable import PgScoreServe

@Suite struct FeatureSpecTests {
    let spec = FeatureSpec(
        project: "heart", version: 3, modelID: 7, task: "classification", classes: ["false", "true"],
        columns: [
            .init(name: "age", declaredType: "double precision", kind: "numeric"),
            .init(name: "ca", declaredType: "text", kind: "numeric"),
            .init(name: "smoker", declaredType: "boolean", kind: "numeric"),
            .init(name: "colour \"x\"", declaredType: "character varying", kind: "categorical"),
        ])

    @Test func acceptsWhatTheRowEncoderReads() {
        let issues = spec.check(["age": 45, "ca": "?", "smoker": true, "colour \"x\"": "red", "extra": [1]])
        #expect(issues.isEmpty)
        #expect(spec.check(["age": nil, "ca": 1, "smoker": nil, "colour \"x\"": 3]).isEmpty)
    }

    @Test func namesMissingAndIllTypedFeatures() {
        let issues = spec.check(["age": "45", "smoker": 1])
        #expect(issues.missing == ["ca", "colour \"x\""])
        #expect(issues.invalid.map(\.name) == ["age", "smoker"])
        #expect(issues.invalid[0].reason == "must be a number, got a string")
        #expect(spec.check(["age": 1, "ca": ["x"], "smoker": false, "colour \"x\"": [:] as JSONValue]).invalid.count == 2)
    }

    @Test func readsTheSpecQuerysJSON() throws {
        let read = try FeatureSpec(
            project: "heart", version: 1, modelID: 2, task: "classification", classesJSON: #"[false, true]"#,
            columnsJSON: #"[{"name": "age", "type": "integer", "kind": "numeric"}, {"name": "thal", "type": "text", "kind": "numeric"}]"#)
        #expect(read.classes == ["false", "true"])
        #expect(read.columns.map(\.sqlType) == ["float8", "text"])
        let numbered = try FeatureSpec(project: "p", version: 1, modelID: 1, task: "classification",
                                       classesJSON: "[0, 1, 4]", columnsJSON: #"[{"name": "x"}]"#)
        #expect(numbered.classes == ["0", "1", "4"])
    }

    @Test func aModelWithoutPreprocessingIsAConflict() {
        #expect(throws: Problem.self) {
            try FeatureSpec(project: "p", version: 1, modelID: 1, task: "regression", classesJSON: "[]", columnsJSON: "[]")
        }
    }
}
