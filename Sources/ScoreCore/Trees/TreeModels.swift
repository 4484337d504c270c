/// Training entry points of the tree algorithms: decision tree, random forest and
/// gradient boosting, for classification (class labels) and regression (float labels).
///
/// NaN in a feature means missing; ±Infinity is refused. The same rows (in any order)
/// and the same options (seed included) give the same model.
public enum TreeModels {
    /// - Parameters:
    ///   - classOf: host label id → class index (classes sorted), for ids 0..<classOf.count.
    ///   - classes: the class labels in class order (their text).
    public static func trainClassifier(_ algorithm: Algorithm, rows: some RowBlocks, classOf: [Int32], classes: [[UInt8]],
                                       labelKind: LabelKind, options: TrainingOptions,
                                       stop: StopCheck = { false }) throws(ScoreError) -> Model {
        guard algorithm.isTree else { throw .badValue("\(algorithm.name) is not a tree algorithm") }
        guard labelKind != .float8 else { throw .badValue("a classifier needs boolean, integer or text labels") }
        try check(options, algorithm: algorithm)
        let data = try TreeData.load(classification: rows, classOf: classOf, classCount: classes.count,
                                     maxBins: options.maxBins, stop: stop)
        return try train(algorithm, data: data, labelKind: labelKind, classes: classes, options: options, stop: stop)
    }

    public static func trainRegressor(_ algorithm: Algorithm, rows: some RegressionRowBlocks, options: TrainingOptions,
                                      stop: StopCheck = { false }) throws(ScoreError) -> Model {
        guard algorithm.isTree else { throw .badValue("\(algorithm.name) is not a tree algorithm") }
        try check(options, algorithm: algorithm)
        let data = try TreeData.load(regression: rows, maxBins: options.maxBins, stop: stop)
        return try train(algorithm, data: data, labelKind: .float8, classes: [], options: options, stop: stop)
    }

    static func check(_ o: TrainingOptions, algorithm: Algorithm) throws(ScoreError) {
        guard o.maxBins >= 2, o.maxBins <= 255, o.trees >= 1, o.minSamplesLeaf >= 1, o.maxDepth >= 0,
              o.learningRate > 0, o.subsample > 0, o.subsample <= 1, o.lambda >= 0, o.minChildWeight >= 0,
              o.validationFraction > 0, o.validationFraction < 1, o.earlyStoppingRounds >= 0 else {
            throw .badValue("tree options out of range")
        }
    }

    static func train(_ algorithm: Algorithm, data: TreeData, labelKind: LabelKind, classes: [[UInt8]],
                      options: TrainingOptions, stop: StopCheck) throws(ScoreError) -> Model {
        var o = options
        try o.featuresPerSplit.check(features: data.d)
        let ensemble: TreeEnsemble
        switch algorithm {
        case .decisionTree: ensemble = try DecisionTree.fit(data, options: o, stop: stop)
        case .randomForest: ensemble = try RandomForest.fit(data, options: o, stop: stop)
        case .gradientBoosting: ensemble = try GradientBoosting.fit(data, options: o, stop: stop)
        case .linearRegression, .logisticRegression, .naiveBayes:
            throw .badValue("\(algorithm.name) is not a tree algorithm", hint: "Train it with \(algorithm.aggregate).")
        }
        o.featuresPerSplit = o.featuresPerSplit.resolved(classification: data.classCount > 0, algorithm: algorithm)
        return Model(algorithm: algorithm, featureCount: data.d, trainingRows: data.n, labelKind: labelKind,
                     classes: classes, parameters: .trees(ensemble), options: o.json(for: algorithm))
    }
}

extension TreeModels {
    /// An upper bound of what a fit allocates beyond the rows it reads, from the arrays
    /// TreeData and the growers make: the binned codes (a byte per value), labels or
    /// targets, the sort keys and ranks of the binning pass, the per-feature value
    /// samples, the split histograms (at most two budgets of them), and per algorithm the
    /// row lists (forest: bootstrap draws) or boosting's scores, gradients and hessians
    /// per class. Counted before the fit, so a fit that would not fit stops at once.
    public static func scratchBytes(_ algorithm: Algorithm, rows n: Int, features d: Int, classes k: Int) -> Int {
        let n = max(n, 0), d = max(d, 1), outputs = max(k, 1)
        var bytes = n.multipliedReportingOverflow(by: d).partialValue     // codes
        bytes += n * 8 + n * 24 + n * 4                                     // labels/targets, sort keys, ranks
        bytes += min(n, TreeData.sampleLimit + 1) * 8 * d                   // value samples
        let histogram = d * 257 * (2 * outputs + 1) * 8
        bytes += min(2 * TreeGrower.histogramBudget, histogram * 16)
        switch algorithm {
        case .gradientBoosting:
            bytes += 3 * n * outputs * 8 + 2 * n * 4
        case .randomForest:
            bytes += 2 * n * 4 + n * 4
        case .decisionTree, .linearRegression, .logisticRegression, .naiveBayes:
            bytes += 2 * n * 4
        }
        return bytes
    }
}
