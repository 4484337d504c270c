import Testing

@testable import PgScoreServe

@Suite struct FeatureSpecTests {
    let spec = FeatureSpec(
        project: "heart", version: 3, modelID: 7, task: "classification", classes: ["false", "true"],
        columns: [
            .init(name: "age", declaredType: "double precision", kind: "numeric"),
            .init(name: "ca", declaredType: "text", kind: "numeric", missing: ["?", ""]),
            .init(name: "smoker", declaredType: "boolean", kind: "numeric"),
            .init(name: "colour \"x\"", declaredType: "character varying", kind: "categorical"),
        ])

    @Test func acceptsWhatTheRowEncoderReads() {
        let issues = spec.check(["age": 45, "ca": "?", "smoker": true, "colour \"x\"": "red", "extra": [1]])
        #expect(issues.isEmpty)
        #expect(spec.check(["age": nil, "ca": 1, "smoker": nil, "colour \"x\"": 3]).isEmpty)
    }

    @Test func namesMissingAndIllTypedFeatures() {
        let issues = spec.check(["age": "0x10", "smoker": "yes"])
        #expect(issues.missing == ["ca", "colour \"x\""])
        #expect(issues.invalid.map(\.name) == ["age", "smoker"])
        #expect(issues.invalid[0].reason == "must be a number, got the text \"0x10\"")
        #expect(spec.check(["age": 1, "ca": ["x"], "smoker": false, "colour \"x\"": [:] as JSONValue]).invalid.count == 2)
    }

    /// The encoder reads numeric text in any numeric column, and numbers and booleans alike:
    /// the gateway takes the same values and refuses the same ones (issue 12).
    @Test func numericTextFollowsTheEncodersRule() {
        let markers = FeatureSpec(project: "p", version: 1, modelID: 1, task: "regression", classes: [],
                                  columns: [.init(name: "v", declaredType: "text", kind: "numeric", missing: ["?", "", "NaN"])])
        for ok in [" 7 ", "1e3", "1E+3", ".5", "NaN", "?", ""] { #expect(markers.check(["v": .string(ok)]).isEmpty, "\(ok)") }
        for refused in ["inf", "0x10", "１２"] { #expect(markers.check(["v": .string(refused)]).invalid.count == 1, "\(refused)") }
        #expect(spec.check(["age": "45", "ca": 1, "smoker": 1, "colour \"x\"": true]).isEmpty)
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
