import Testing
@testable import ScoreCore

@Suite struct TrainingOptionsTests {
    static func isBadValue(_ error: any Error, containing text: String = "") -> Bool {
        guard let e = error as? ScoreError, case .badValue = e else { return false }
        return text.isEmpty || e.message.contains(text)
    }

    @Test func defaultsPerAlgorithm() throws {
        let logistic = try TrainingOptions.parse("", for: .logisticRegression)
        #expect(logistic.l2 == 1)
        #expect(logistic.intercept)
        #expect(logistic.maxIterations == 100)
        #expect(logistic.tolerance == 1e-10)
        #expect(!logistic.skipNullFeatures)
        let linear = try TrainingOptions.parse("{}", for: .linearRegression)
        #expect(linear.l2 == 0)
        #expect(linear.intercept)
        let bayes = try TrainingOptions.parse(" { } ", for: .naiveBayes)
        #expect(bayes.varSmoothing == 1e-9)
        for a in Algorithm.allCases {
            #expect(try TrainingOptions.parse("", for: a) == TrainingOptions(for: a))
            #expect(try TrainingOptions.parse("{}", for: a) == TrainingOptions(for: a))
        }
    }

    @Test func parsesEveryOption() throws {
        let o = try TrainingOptions.parse(#"{"l2": 0.5, "intercept": false, "max_iter": 250, "tol": 1e-6, "nulls": "skip"}"#,
                                          for: .logisticRegression)
        #expect(o.l2 == 0.5)
        #expect(!o.intercept)
        #expect(o.maxIterations == 250)
        #expect(o.tolerance == 1e-6)
        #expect(o.skipNullFeatures)
        let l = try TrainingOptions.parse(#"{"l2": 3, "intercept": true, "nulls": "error"}"#, for: .linearRegression)
        #expect(l.l2 == 3 && l.intercept && !l.skipNullFeatures)
        let nb = try TrainingOptions.parse(#"{"var_smoothing": 0.25, "nulls": "skip"}"#, for: .naiveBayes)
        #expect(nb.varSmoothing == 0.25 && nb.skipNullFeatures)
        // Boundaries that are allowed.
        #expect(try TrainingOptions.parse(#"{"l2": 0}"#, for: .logisticRegression).l2 == 0)
        #expect(try TrainingOptions.parse(#"{"max_iter": 1}"#, for: .logisticRegression).maxIterations == 1)
        #expect(try TrainingOptions.parse(#"{"max_iter": 10000}"#, for: .logisticRegression).maxIterations == 10000)
        #expect(try TrainingOptions.parse(#"{"max_iter": 1e2}"#, for: .logisticRegression).maxIterations == 100)
        #expect(try TrainingOptions.parse(#"{"var_smoothing": 0}"#, for: .naiveBayes).varSmoothing == 0)
    }

    @Test(arguments: [
        (Algorithm.linearRegression, #"{"max_iter": 5}"#),
        (.linearRegression, #"{"var_smoothing": 1}"#),
        (.naiveBayes, #"{"l2": 1}"#),
        (.naiveBayes, #"{"intercept": true}"#),
        (.logisticRegression, #"{"var_smoothing": 1}"#),
        (.logisticRegression, #"{"L2": 1}"#),
        (.logisticRegression, #"{"alpha": 1}"#),
    ])
    func unknownKeys(algorithm: Algorithm, text: String) {
        #expect { try TrainingOptions.parse(text, for: algorithm) } throws: { error in
            guard let e = error as? ScoreError, case let .badValue(message, hint) = e else { return false }
            return message.contains("unknown option") && hint.hasPrefix("Valid options: ")
        }
    }

    @Test(arguments: [
        #"{"l2": "1"}"#, #"{"l2": null}"#, #"{"l2": [1]}"#, #"{"l2": true}"#,
        #"{"intercept": 1}"#, #"{"intercept": "true"}"#,
        #"{"max_iter": "10"}"#, #"{"tol": false}"#,
        #"{"nulls": true}"#, #"{"nulls": "ignore"}"#, #"{"nulls": "SKIP"}"#,
    ])
    func wrongTypes(text: String) {
        #expect { try TrainingOptions.parse(text, for: .logisticRegression) } throws: { Self.isBadValue($0) }
    }

    @Test func wrongTypeMessage() {
        #expect { try TrainingOptions.parse(#"{"l2": "1"}"#, for: .linearRegression) } throws: {
            Self.isBadValue($0, containing: #"option "l2" must be a number, got a string"#)
        }
    }

    @Test(arguments: [
        (Algorithm.logisticRegression, #"{"l2": -1}"#),
        (.linearRegression, #"{"l2": -1e-300}"#),
        (.naiveBayes, #"{"var_smoothing": -1e-9}"#),
        (.logisticRegression, #"{"tol": -1}"#),
        (.logisticRegression, #"{"tol": 0}"#),
        (.logisticRegression, #"{"max_iter": 0}"#),
        (.logisticRegression, #"{"max_iter": -5}"#),
        (.logisticRegression, #"{"max_iter": 2.5}"#),
        (.logisticRegression, #"{"max_iter": 10001}"#),
        (.logisticRegression, #"{"max_iter": 1e300}"#),
    ])
    func outOfRangeValues(algorithm: Algorithm, text: String) {
        #expect { try TrainingOptions.parse(text, for: algorithm) } throws: { Self.isBadValue($0) }
    }

    @Test func maxIterMessage() {
        #expect { try TrainingOptions.parse(#"{"max_iter": 2.5}"#, for: .logisticRegression) } throws: {
            Self.isBadValue($0, containing: "whole number from 1 to 10000, got 2.5")
        }
    }

    @Test(arguments: ["[]", "1", "null", "\"l2\"", "{", #"{"l2": 1} x"#, #"{"l2": 1, "l2": 2}"#])
    func notAnObject(text: String) {
        #expect { try TrainingOptions.parse(text, for: .linearRegression) } throws: { Self.isBadValue($0) }
    }

    @Test func jsonListsTheUsedOptions() throws {
        #expect(try JSONValue.parse(TrainingOptions(for: .logisticRegression).json(for: .logisticRegression)) == .object([
            ("l2", .number(1)), ("intercept", .bool(true)), ("max_iter", .number(100)),
            ("tol", .number(1e-10)), ("nulls", .string("error")),
        ]))
        #expect(TrainingOptions(for: .linearRegression).json(for: .linearRegression)
                == #"{"l2":0,"intercept":true,"nulls":"error"}"#)
        #expect(try JSONValue.parse(TrainingOptions(for: .naiveBayes).json(for: .naiveBayes)) == .object([
            ("var_smoothing", .number(1e-9)), ("nulls", .string("error")),
        ]))
        // Parsing the listed options gives the same options back.
        for a in Algorithm.allCases {
            var o = TrainingOptions(for: a)
            o.l2 = 0.125
            o.intercept = false
            o.maxIterations = 7
            o.tolerance = 1e-7
            o.varSmoothing = 0.3
            o.skipNullFeatures = true
            let back = try TrainingOptions.parse(o.json(for: a), for: a)
            #expect(back.json(for: a) == o.json(for: a))
            switch a {
            case .linearRegression: #expect(back.l2 == 0.125 && !back.intercept && back.skipNullFeatures)
            case .logisticRegression: #expect(back == { var p = o; p.varSmoothing = 1e-9; return p }())
            case .naiveBayes: #expect(back.varSmoothing == 0.3 && back.skipNullFeatures)
            case .decisionTree, .randomForest, .gradientBoosting: #expect(back.nullsAsMissing)
            }
        }
    }
}
