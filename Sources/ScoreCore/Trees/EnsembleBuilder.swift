/// Trees of a model under construction: the arrays of `TreeEnsemble`, plus what
/// training needs (the split bin of each node, for walking binned rows; the gain of
/// each split, for importances).
struct EnsembleBuilder {
    let outputs: Int
    let featureCount: Int
    let byteLimit: Int
    var feature: [Int32] = []
    var threshold: [Double] = []
    var missingLeft: [Bool] = []
    var left: [Int32] = []
    var right: [Int32] = []
    var splitBin: [Int32] = []
    var gain: [Double] = []
    var values: [Double] = []
    var treeStart: [Int32] = []
    var treeScore: [Int32] = []
    /// Per tree: its first leaf ordinal (to cut trees off after early stopping).
    var treeLeafStart: [Int32] = []

    init(outputs: Int, featureCount: Int, byteLimit: Int) {
        self.outputs = outputs
        self.featureCount = featureCount
        self.byteLimit = byteLimit
    }

    var nodeCount: Int { feature.count }

    mutating func startTree(score: Int) {
        treeStart.append(Int32(nodeCount))
        treeScore.append(Int32(score))
        treeLeafStart.append(Int32(values.count / outputs))
    }

    /// A new node (a leaf until `makeSplit`); throws when the model outgrows the limit.
    mutating func addNode() throws(ScoreError) -> Int {
        let bytes = TreeEnsemble.encodedSize(trees: treeStart.count, nodes: nodeCount + 1, leafValues: values.count + outputs,
                                             scores: outputs, features: featureCount)
        guard bytes <= byteLimit else {
            throw .limit("the trees would take more than \(byteLimit >> 20) MB",
                         hint: "Limit max_depth, raise min_samples_leaf, or train fewer trees.")
        }
        feature.append(-1)
        threshold.append(0)
        missingLeft.append(false)
        left.append(0)
        right.append(-1)
        splitBin.append(0)
        gain.append(0)
        return nodeCount - 1
    }

    mutating func makeLeaf(_ i: Int, values v: UnsafePointer<Double>) {
        feature[i] = -1
        left[i] = Int32(values.count / outputs)
        right[i] = -1
        for c in 0..<outputs { values.append(v[c]) }
    }

    /// Removes every tree from `trees` on.
    mutating func truncate(trees: Int) {
        guard trees < treeStart.count else { return }
        let nodes = Int(treeStart[trees])
        let leaves = Int(treeLeafStart[trees])
        feature.removeSubrange(nodes...)
        threshold.removeSubrange(nodes...)
        missingLeft.removeSubrange(nodes...)
        left.removeSubrange(nodes...)
        right.removeSubrange(nodes...)
        splitBin.removeSubrange(nodes...)
        gain.removeSubrange(nodes...)
        values.removeSubrange((leaves * outputs)...)
        treeStart.removeSubrange(trees...)
        treeScore.removeSubrange(trees...)
        treeLeafStart.removeSubrange(trees...)
    }

    func ensemble(combine: TreeEnsemble.Combine, scores: Int, base: [Double]) -> TreeEnsemble {
        var importance = [Double](repeating: 0, count: featureCount)
        for i in 0..<nodeCount where feature[i] >= 0 { importance[Int(feature[i])] += gain[i] }
        let total = importance.reduce(0, +)
        if total > 0 { for j in importance.indices { importance[j] /= total } }
        return TreeEnsemble(combine: combine, outputs: outputs, scores: scores, base: base, treeStart: treeStart,
                            treeScore: treeScore, feature: feature, threshold: threshold, missingLeft: missingLeft,
                            left: left, right: right, values: values, importance: importance)
    }

    /// The leaf ordinal a binned row reaches in tree t.
    @inline(__always)
    func leaf(tree t: Int, codes: UnsafePointer<UInt8>, missingCode: UnsafePointer<Int32>) -> Int {
        var i = Int(treeStart[t])
        while feature[i] >= 0 {
            let f = Int(feature[i])
            let c = Int32(codes[f])
            let goLeft = c == missingCode[f] ? missingLeft[i] : c <= splitBin[i]
            i = Int(goLeft ? left[i] : right[i])
        }
        return Int(left[i])
    }
}
