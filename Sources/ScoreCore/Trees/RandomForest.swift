/// Random forest (scikit-learn RandomForestClassifier / RandomForestRegressor): each
/// tree grows on a bootstrap sample of the rows (n draws with replacement) and tries
/// `features_per_split` random features at each split (default √d for classification,
/// all d for regression, as scikit-learn); predictions average the trees' class
/// probabilities or values. Trees are fully grown by default (no max_depth).
///
/// Tree t draws from its own generator (seed, stream t), so a forest does not depend on
/// how its trees are scheduled. Extra memory: the bootstrap sample (4n bytes) and a
/// count per row (4n).
public enum RandomForest {
    static func fit(_ data: TreeData, options o: TrainingOptions, stop: StopCheck) throws(ScoreError) -> TreeEnsemble {
        let n = data.n, k = data.classCount
        let m = o.featuresPerSplit.count(features: data.d, classification: k > 0, algorithm: .randomForest)
        let grower = try TreeGrower(data: data, mode: k > 0 ? .classification : .regression,
                                    settings: GrowSettings(maxDepth: o.maxDepth, minSamplesLeaf: o.minSamplesLeaf,
                                                           minChildWeight: 0, lambda: 0, featuresPerSplit: m),
                                    maxRows: n)
        if k == 0 { grower.targetShift = DecisionTree.meanTarget(data) }
        var out = EnsembleBuilder(outputs: max(k, 1), featureCount: data.d, byteLimit: o.maxModelBytes)
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let draws = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer {
            rows.deallocate()
            draws.deallocate()
        }
        for t in 0..<o.trees {
            if stop() { throw .interrupted }
            var rng = TreeRandom(seed: o.seed, stream: UInt64(t) + 1)
            // Bootstrap: counts per row, then the rows in order with their multiplicity
            // (ordered rows read the binned features sequentially).
            draws.update(repeating: 0, count: n)
            for _ in 0..<n { draws[rng.below(n)] += 1 }
            var filled = 0
            for i in 0..<n {
                for _ in 0..<Int(draws[i]) {
                    rows[filled] = Int32(i)
                    filled += 1
                }
            }
            out.startTree(score: 0)
            try grower.grow(rows: rows, count: filled, rng: &rng, into: &out, stop: stop)
        }
        return out.ensemble(combine: .average, scores: max(k, 1), base: [Double](repeating: 0, count: max(k, 1)))
    }
}
