import Testing
@testable import ScoreCore

/// The algorithm table is the one list: names, aliases, aggregates and ids, and an
/// unknown id or name is an error, never another algorithm.
@Suite struct AlgorithmTests {
    @Test func namesAliasesAndAggregatesAreOneTable() throws {
        #expect(Algorithm.allCases.map(\.name) == ["linear_regression", "logistic_regression", "naive_bayes",
                                                  "decision_tree", "random_forest", "gradient_boosting"])
        #expect(Algorithm.allCases.map(\.aggregate) == ["ml.linreg_fit", "ml.logreg_fit", "ml.nb_fit",
                                                       "ml.tree_fit", "ml.forest_fit", "ml.gbt_fit"])
        for a in Algorithm.allCases {
            #expect(Algorithm(name: a.name) == a)
            #expect(Algorithm(name: a.alias.uppercased()) == a)
            #expect(try Algorithm(id: Int(a.rawValue)) == a)
            #expect(a.fitsClassification || a.fitsRegression)
        }
        #expect(Algorithm.allCases.filter { !$0.fitsClassification } == [.linearRegression])
        #expect(Algorithm.allCases.filter { !$0.fitsRegression } == [.logisticRegression, .naiveBayes])
    }

    @Test func unknownNamesAndIdsAreErrors() {
        for name in ["", "svm", "random_forest_9000", "logistic regression"] {
            #expect(Algorithm(name: name) == nil)
        }
        for id in [0, 7, 255, 65535, -1, 1 << 20] {
            #expect(throws: ScoreError.self) { try Algorithm(id: id) }
        }
    }

    @Test func treeTrainingRefusesAnAlgorithmThatIsNotATree() throws {
        let rows = ArrayRegressionRows(featureCount: 1, features: [1, 2, 3, 4], targets: [1, 2, 3, 4])
        for a in Algorithm.allCases where !a.isTree {
            #expect(throws: ScoreError.self) {
                try TreeModels.trainRegressor(a, rows: rows, options: try TrainingOptions.parse("", for: .decisionTree))
            }
        }
    }
}
