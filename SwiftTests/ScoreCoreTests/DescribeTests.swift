import Testing
@testable import ScoreCore

@Suite struct DescribeTests {
    @Test func classLabelsInTheirSQLType() {
        let boolean = Model(algorithm: .logisticRegression, featureCount: 1, trainingRows: 4, labelKind: .boolean,
                            classes: [Array("false".utf8), Array("true".utf8)],
                            parameters: .logistic(intercepts: [0], coefficients: [[1]]))
        #expect(boolean.classJSON(0) == .bool(false))
        #expect(boolean.classJSON(1) == .bool(true))
        let integer = Model(algorithm: .naiveBayes, featureCount: 1, trainingRows: 4, labelKind: .integer,
                            classes: ["-3", "42"].map { Array($0.utf8) },
                            parameters: .naiveBayes(prior: [0.5, 0.5], means: [[0], [1]], variances: [[1], [1]]))
        #expect(integer.classJSON(0) == .number(-3))
        #expect(integer.classJSON(1) == .number(42))
        let text = Model(algorithm: .naiveBayes, featureCount: 1, trainingRows: 4, labelKind: .text,
                         classes: ["42", "a \"b\""].map { Array($0.utf8) },
                         parameters: .naiveBayes(prior: [0.5, 0.5], means: [[0], [1]], variances: [[1], [1]]))
        #expect(text.classJSON(0) == .string("42"))
        #expect(text.classJSON(1) == .string("a \"b\""))
    }

    @Test func describeLogistic() {
        let m = Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 150, labelKind: .text,
                      classes: ["a", "b", "c"].map { Array($0.utf8) },
                      parameters: .logistic(intercepts: [0.5, -1, 0.5], coefficients: [[1, 2], [3, 4], [-4, -6]]),
                      options: #"{"l2":1}"#, info: #"{"features":["x","y"]}"#)
        #expect(m.describeJSON.serialized == #"""
            {"algorithm":"logistic_regression","format_version":1,"features":2,"training_rows":150,\#
            "label_type":"text","classes":["a","b","c"],"intercepts":[0.5,-1,0.5],\#
            "coefficients":[[1,2],[3,4],[-4,-6]],"options":{"l2":1},"info":{"features":["x","y"]}}
            """#)
    }

    @Test func describeLinearOmitsClassesAndEmptyInfo() {
        let m = Model(algorithm: .linearRegression, featureCount: 1, trainingRows: 3, labelKind: .float8, classes: [],
                      parameters: .linear(intercept: 3, coefficients: [0.25]), options: "{}", info: "{}")
        #expect(m.describeJSON.serialized == #"""
            {"algorithm":"linear_regression","format_version":1,"features":1,"training_rows":3,\#
            "label_type":"float8","intercept":3,"coefficients":[0.25],"options":{}}
            """#)
    }

    @Test func describeNaiveBayes() {
        let m = Model(algorithm: .naiveBayes, featureCount: 1, trainingRows: 4, labelKind: .boolean,
                      classes: [Array("false".utf8), Array("true".utf8)],
                      parameters: .naiveBayes(prior: [0.25, 0.75], means: [[1], [2]], variances: [[0.5], [1.5]]),
                      options: #"{"var_smoothing":1e-9}"#)
        let d = m.describeJSON
        #expect(d["classes"] == .array([.bool(false), .bool(true)]))
        #expect(d["class_prior"] == .array([.number(0.25), .number(0.75)]))
        #expect(d["means"] == .array([.array([.number(1)]), .array([.number(2)])]))
        #expect(d["variances"] == .array([.array([.number(0.5)]), .array([.number(1.5)])]))
        #expect(d["options"] == .object([("var_smoothing", .number(1e-9))]))
        #expect(d["info"] == nil)
    }
}
