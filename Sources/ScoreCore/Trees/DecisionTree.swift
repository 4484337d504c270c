/// A single CART tree (scikit-learn DecisionTreeClassifier / DecisionTreeRegressor):
/// Gini or squared error, split search on binned features (exact for features with at
/// most max_bins distinct values), missing values sent the learned default way.
public enum DecisionTree {
    static func fit(_ data: TreeData, options o: TrainingOptions, stop: StopCheck) throws(ScoreError) -> TreeEnsemble {
        let k = data.classCount
        let m = o.featuresPerSplit.count(features: data.d, classification: k > 0, algorithm: .decisionTree)
        let grower = try TreeGrower(data: data, mode: k > 0 ? .classification : .regression,
                                    settings: GrowSettings(maxDepth: o.maxDepth, minSamplesLeaf: o.minSamplesLeaf,
                                                           minChildWeight: 0, lambda: 0, featuresPerSplit: m),
                                    maxRows: data.n)
        if k == 0 { grower.targetShift = meanTarget(data) }
        var out = EnsembleBuilder(outputs: max(k, 1), featureCount: data.d, byteLimit: o.maxModelBytes)
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: data.n)
        defer { rows.deallocate() }
        for i in 0..<data.n { rows[i] = Int32(i) }
        var rng = TreeRandom(seed: o.seed)
        out.startTree(score: 0)
        try grower.grow(rows: rows, count: data.n, rng: &rng, into: &out, stop: stop)
        return out.ensemble(combine: .average, scores: max(k, 1), base: [Double](repeating: 0, count: max(k, 1)))
    }

    static func meanTarget(_ data: TreeData) -> Double {
        var s = 0.0
        for i in 0..<data.n { s += data.target[i] }
        return s / Double(data.n)
    }
}
