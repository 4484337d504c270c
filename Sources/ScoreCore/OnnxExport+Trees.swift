/// ONNX export of tree models (decision tree, random forest, gradient boosting) with the
/// ai.onnx.ml tree ensemble operators.
///
/// Splits: pgscore sends a row to the left child when `x <= threshold` and a missing
/// value (NaN) the learned default way; in ONNX that is mode BRANCH_LEQ, the left child
/// as the "true" node and `nodes_missing_value_tracks_true` = 1 where missing goes left
/// (NaN <= t is false, so without the flag NaN takes the "false" = right branch, as in
/// pgscore). Node ids restart at 0 in each tree (our node index within the tree).
///
/// Thresholds in float32: the operators compare float32 inputs with float32 thresholds.
/// Each threshold t (a double halfway between two training values a < b) is written as
/// the largest float32 f <= t, not the nearest: a float32 input x' = float32(x) then
/// goes left exactly when x <= t for every x outside a window of one float32 step
/// below t; in particular every training value goes the same way as in pgscore whenever
/// float32(a) < float32(b) (always when a and b differ by two float32 steps or more,
/// and always for values that are themselves float32, e.g. from a real column). Rounding
/// to nearest could instead send b left when t and b round to the same float32. A
/// threshold above the float32 range (the "every value left, missing right" split
/// stores the largest double) becomes +infinity. Inputs are expected rounded to the
/// nearest float32 (what numpy's astype(float32) and C casts do).
///
/// How the leaves combine:
///  * regression: TreeEnsembleRegressor into `variable` [N, 1]; AVERAGE for decision
///    trees and forests, SUM plus base_values (the base score) for boosting;
///  * more than two classes: TreeEnsembleClassifier into `label` and `probabilities`:
///    forests vote with every class's leaf probability scaled by 1/n_trees
///    (post_transform NONE: the mean of the trees' probabilities); boosting adds each
///    tree's leaf value to its class's score, base_values holds the base scores, and
///    SOFTMAX turns the scores into probabilities (the label is the top score).
///  * two classes: the ONNX specification does not say how TreeEnsembleClassifier
///    treats two classes, and ONNX Runtime special-cases them (measured with 1.32: a
///    single score column is labelled by "score > 0.5" when every weight is >= 0, a
///    two-column form returns class indices instead of integer labels, and with
///    post_transform NONE it labels by "second score > 0"). So two classes use
///    TreeEnsembleRegressor, whose meaning is plain, and standard operators:
///    forests: two targets, AVERAGE → `probabilities`, ArgMax → LabelEncoder → `label`;
///    boosting: one target s, SUM + base → Neg, Concat → logits (−s, s), Sigmoid →
///    `probabilities` (1 − p, p), ArgMax of the logits (class 1 exactly when s > 0,
///    as pgscore) → LabelEncoder → `label`.
extension OnnxExport {
    /// The float32 threshold of a double threshold (see above).
    static func floatThreshold(_ t: Double) -> Float {
        let largest = Double(Float.greatestFiniteMagnitude)
        if t > largest { return .infinity }
        if t < -largest { return -.infinity }
        var f = Float(t)
        if Double(f) > t { f = f.nextDown }
        return f
    }

    /// A leaf: its tree, its node id in the tree, its leaf ordinal (index of its values).
    struct TreeLeaf {
        var tree: Int64
        var node: Int64
        var ordinal: Int
    }

    /// The nodes_* attributes of `e`, and its leaves in node order.
    static func treeNodes(_ e: TreeEnsemble) -> ([(String, OnnxGraph.Attribute)], [TreeLeaf]) {
        let n = e.nodeCount
        var treeIds: [Int64] = [], nodeIds: [Int64] = [], featureIds: [Int64] = []
        var values: [Float] = [], modes: [String] = [], trueIds: [Int64] = [], falseIds: [Int64] = []
        var missingTrue: [Int64] = []
        treeIds.reserveCapacity(n); nodeIds.reserveCapacity(n); featureIds.reserveCapacity(n)
        values.reserveCapacity(n); modes.reserveCapacity(n); trueIds.reserveCapacity(n)
        falseIds.reserveCapacity(n); missingTrue.reserveCapacity(n)
        var leaves: [TreeLeaf] = []
        leaves.reserveCapacity(e.leafCount)
        for t in 0..<e.treeCount {
            let start = Int(e.treeStart[t])
            for i in start..<e.treeEnd(t) {
                treeIds.append(Int64(t))
                nodeIds.append(Int64(i - start))
                if e.feature[i] < 0 {
                    featureIds.append(0)
                    values.append(0)
                    modes.append("LEAF")
                    trueIds.append(0)
                    falseIds.append(0)
                    missingTrue.append(0)
                    leaves.append(TreeLeaf(tree: Int64(t), node: Int64(i - start), ordinal: Int(e.left[i])))
                } else {
                    featureIds.append(Int64(e.feature[i]))
                    values.append(floatThreshold(e.threshold[i]))
                    modes.append("BRANCH_LEQ")
                    trueIds.append(Int64(Int(e.left[i]) - start))
                    falseIds.append(Int64(Int(e.right[i]) - start))
                    missingTrue.append(e.missingLeft[i] ? 1 : 0)
                }
            }
        }
        return ([
            ("nodes_treeids", .ints(treeIds)),
            ("nodes_nodeids", .ints(nodeIds)),
            ("nodes_featureids", .ints(featureIds)),
            ("nodes_values", .floats(values)),
            ("nodes_modes", .strings(modes)),
            ("nodes_truenodeids", .ints(trueIds)),
            ("nodes_falsenodeids", .ints(falseIds)),
            ("nodes_missing_value_tracks_true", .ints(missingTrue)),
        ], leaves)
    }

    /// Leaf weights: `prefix`_treeids, _nodeids, _ids, _weights. `weights(leaf)` lists
    /// (id, weight) pairs of one leaf.
    static func leafWeights(_ prefix: String, _ leaves: [TreeLeaf],
                            _ weights: (TreeLeaf) -> [(Int64, Double)]) throws(ScoreError) -> [(String, OnnxGraph.Attribute)] {
        var treeIds: [Int64] = [], nodeIds: [Int64] = [], ids: [Int64] = [], w: [Double] = []
        for leaf in leaves {
            for (id, v) in weights(leaf) {
                treeIds.append(leaf.tree)
                nodeIds.append(leaf.node)
                ids.append(id)
                w.append(v)
            }
        }
        return [
            ("\(prefix)_treeids", .ints(treeIds)),
            ("\(prefix)_nodeids", .ints(nodeIds)),
            ("\(prefix)_ids", .ints(ids)),
            ("\(prefix)_weights", .floats(try floats(w, "leaf value"))),
        ]
    }

    /// Adds the nodes computing `model`'s outputs from `features` (float [N, featureCount]).
    static func addTrees(_ e: TreeEnsemble, model: Model, features: String, to g: inout OnnxGraph) throws(ScoreError) {
        let (nodes, leaves) = treeNodes(e)
        let k = model.classes.count
        let trees = Double(e.treeCount)
        let out = e.outputs
        let aggregate = e.combine == .sum ? "SUM" : "AVERAGE"
        func regressor(_ targets: Int, output: String) throws(ScoreError) {
            var attributes = nodes
            attributes += try leafWeights("target", leaves) { leaf in
                (0..<targets).map { (Int64($0), e.values[leaf.ordinal * out + $0]) }
            }
            attributes.append(("n_targets", .int(Int64(targets))))
            attributes.append(("aggregate_function", .string(aggregate)))
            if e.combine == .sum { attributes.append(("base_values", .floats(try floats(e.base, "base score")))) }
            attributes.append(("post_transform", .string("NONE")))
            g.nodes.append(.init(op: "TreeEnsembleRegressor", domain: mlDomain, inputs: [features], outputs: [output],
                                 attributes: attributes))
        }

        if k == 0 {
            try regressor(1, output: "variable")
            g.outputs.append(.init(name: "variable", type: .float, shape: [.symbol("N"), .value(1)], doc: "the prediction"))
            return
        }
        let labels = try classLabels(model)
        if k == 2 {
            let index = "pgscore.trees.class"
            if e.combine == .average {
                try regressor(2, output: "probabilities")
                g.node("ArgMax", ["probabilities"], [index], [("axis", .int(1)), ("keepdims", .int(0))])
            } else {
                try regressor(1, output: "pgscore.trees.score")
                g.node("Neg", ["pgscore.trees.score"], ["pgscore.trees.negated"])
                g.node("Concat", ["pgscore.trees.negated", "pgscore.trees.score"], ["pgscore.trees.logits"], [("axis", .int(1))])
                g.node("Sigmoid", ["pgscore.trees.logits"], ["probabilities"])
                g.node("ArgMax", ["pgscore.trees.logits"], [index], [("axis", .int(1)), ("keepdims", .int(0))])
            }
            g.addLabelEncoder(from: index, labels: labels, classes: k)
            g.addClassifierOutputs(labels, classes: k)
            return
        }
        var attributes = nodes
        if e.combine == .average {
            attributes += try leafWeights("class", leaves) { leaf in
                (0..<k).map { (Int64($0), e.values[leaf.ordinal * k + $0] / trees) }
            }
            attributes.append(("post_transform", .string("NONE")))
        } else {
            attributes += try leafWeights("class", leaves) { leaf in
                [(Int64(e.treeScore[Int(leaf.tree)]), e.values[leaf.ordinal])]
            }
            attributes.append(("base_values", .floats(try floats(e.base, "base score"))))
            attributes.append(("post_transform", .string("SOFTMAX")))
        }
        switch labels {
        case let .strings(s): attributes.append(("classlabels_strings", .strings(s)))
        case let .ints(v): attributes.append(("classlabels_int64s", .ints(v)))
        }
        g.nodes.append(.init(op: "TreeEnsembleClassifier", domain: mlDomain, inputs: [features],
                             outputs: ["label", "probabilities"], attributes: attributes))
        g.addClassifierOutputs(labels, classes: k)
    }
}
