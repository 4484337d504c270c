#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The trees of a decision tree, random forest or gradient-boosted model, in flat arrays.
///
/// Nodes of all trees share one set of arrays; tree t owns the nodes
/// `treeStart[t] ..< treeStart[t + 1]` (the last tree up to the end), its root first.
/// A split node sends a row left when `x[feature] <= threshold`, right when it is
/// greater, and a missing value (NaN) the learned default way (`missingLeft`). Child
/// indices are absolute and always greater than their parent's, so a walk from a root
/// always ends. A leaf has `feature == -1` and `left` = its leaf ordinal: its values
/// are `values[left * outputs ..< (left + 1) * outputs]`.
///
/// How tree outputs combine:
///  * `.average` (decision tree, random forest): the mean of the trees' leaf values:
///    class probabilities (`outputs` = classes) or the regression value (`outputs` = 1);
///  * `.sum` (gradient boosting): `outputs` = 1; score channel `treeScore[t]` gets
///    `base[channel]` plus the leaf values of its trees (the learning rate is folded into
///    them). One channel: the regression value, or for two classes the log-odds of the
///    second class; K channels for K > 2 classes, turned into probabilities by softmax.
public struct TreeEnsemble: Sendable, Equatable {
    public enum Combine: UInt8, Sendable {
        case average = 0
        case sum = 1
    }

    public var combine: Combine
    /// Values per leaf.
    public var outputs: Int
    /// Score channels of a `.sum` ensemble (1, or K for K > 2 classes); `outputs` for `.average`.
    public var scores: Int
    /// Per score channel (`.sum`); zeros for `.average`.
    public var base: [Double]
    public var treeStart: [Int32]
    /// Per tree: the score channel it adds to (`.sum`), 0 for `.average`.
    public var treeScore: [Int32]
    public var feature: [Int32]
    public var threshold: [Double]
    public var missingLeft: [Bool]
    public var left: [Int32]
    public var right: [Int32]
    public var values: [Double]
    /// Per feature: its share of the total split gain over all trees (sums to 1, or all 0
    /// when no tree splits).
    public var importance: [Double]

    public init(combine: Combine, outputs: Int, scores: Int, base: [Double], treeStart: [Int32], treeScore: [Int32],
                feature: [Int32], threshold: [Double], missingLeft: [Bool], left: [Int32], right: [Int32],
                values: [Double], importance: [Double]) {
        self.combine = combine
        self.outputs = outputs
        self.scores = scores
        self.base = base
        self.treeStart = treeStart
        self.treeScore = treeScore
        self.feature = feature
        self.threshold = threshold
        self.missingLeft = missingLeft
        self.left = left
        self.right = right
        self.values = values
        self.importance = importance
    }

    public var treeCount: Int { treeStart.count }
    public var nodeCount: Int { feature.count }
    public var leafCount: Int { outputs > 0 ? values.count / outputs : 0 }

    func treeEnd(_ t: Int) -> Int { t + 1 < treeStart.count ? Int(treeStart[t + 1]) : feature.count }

    /// Bytes of the parameter section `encode` writes.
    public static func encodedSize(trees: Int, nodes: Int, leafValues: Int, scores: Int, features: Int) -> Int {
        24 + 8 * scores + 8 * trees + nodeBytes * nodes + 8 * leafValues + 8 * features
    }

    static let nodeBytes = 21
    /// Largest model a training run may produce (encoded).
    public static let maxModelBytes = 512 << 20

    /// Depth (edges from the root to the deepest leaf) of each tree.
    public var depths: [Int] {
        var out: [Int] = []
        var depth = [Int](repeating: 0, count: nodeCount)
        for t in 0..<treeCount {
            var deepest = 0
            let start = Int(treeStart[t])
            depth[start] = 0
            for i in start..<treeEnd(t) {
                if feature[i] >= 0 {
                    depth[Int(left[i])] = depth[i] + 1
                    depth[Int(right[i])] = depth[i] + 1
                } else {
                    deepest = max(deepest, depth[i])
                }
            }
            out.append(deepest)
        }
        return out
    }

    // MARK: codec

    func encode(into p: inout ByteWriter) {
        p.u8(combine.rawValue)
        p.u8(0)
        p.u16(0)
        p.u32(UInt32(outputs))
        p.u32(UInt32(scores))
        p.u32(UInt32(treeCount))
        p.u32(UInt32(nodeCount))
        p.u32(UInt32(leafCount))
        p.f64s(base)
        for t in 0..<treeCount {
            p.u32(UInt32(bitPattern: treeStart[t]))
            p.u32(UInt32(bitPattern: treeScore[t]))
        }
        p.data.reserveCapacity(p.data.count + TreeEnsemble.nodeBytes * nodeCount + 8 * (values.count + importance.count))
        for i in 0..<nodeCount {
            p.u32(UInt32(bitPattern: feature[i]))
            p.f64(threshold[i])
            p.u8(missingLeft[i] ? 1 : 0)
            p.u32(UInt32(bitPattern: left[i]))
            p.u32(UInt32(bitPattern: right[i]))
        }
        p.f64s(values)
        p.f64s(importance)
    }

    /// Reads and validates the layout `encode` writes, before allocating anything sized
    /// by it: every index in range, every child after its parent and inside its tree,
    /// every node but a root reached from exactly one parent (so each tree is a tree:
    /// no DAG, no cycle, no orphan), every leaf ordinal used once, leaf values that fit
    /// the combination (class probabilities of a leaf sum to 1), so that scoring,
    /// describe and export can never trap, loop or overrun.
    static func decode(_ p: inout ByteReader, algorithm: Algorithm, featureCount d: Int,
                       classCount k: Int) throws(ScoreError) -> TreeEnsemble {
        guard let combine = Combine(rawValue: try p.u8()) else { throw .badModel("unknown way of combining trees") }
        guard try p.u8() == 0, try p.u16() == 0 else { throw .badModel("tree ensemble has non-zero reserved bytes: damaged") }
        let outputs = Int(try p.u32())
        let scores = Int(try p.u32())
        let trees = Int(try p.u32())
        let nodes = Int(try p.u32())
        let leaves = Int(try p.u32())
        guard outputs >= 1, outputs <= ModelCodec.maxCount, scores >= 1, scores <= ModelCodec.maxCount,
              trees >= 1, trees <= nodes, nodes <= ModelCodec.maxCount, leaves >= 1, leaves <= nodes,
              leaves <= ModelCodec.maxCount / outputs else {
            throw .badModel("implausible tree ensemble dimensions")
        }
        // The shape must fit the algorithm and the classes.
        switch (algorithm, combine) {
        case (.decisionTree, .average), (.randomForest, .average):
            guard outputs == max(k, 1), scores == outputs else { throw .badModel("tree leaves do not fit the classes") }
        case (.gradientBoosting, .sum):
            guard outputs == 1, scores == (k == 0 ? 1 : (k == 2 ? 1 : k)) else {
                throw .badModel("boosted trees do not fit the classes")
            }
        default:
            throw .badModel("tree ensemble does not fit the algorithm")
        }
        if algorithm == .decisionTree, trees != 1 { throw .badModel("a decision tree model holds \(trees) trees") }
        // Everything that follows must fit in what is left of the section.
        let need = 8 * scores + 8 * trees + nodeBytes * nodes + 8 * leaves * outputs + 8 * d
        guard need == p.end - p.pos else {
            throw .badModel("tree ensemble should take \(need) bytes, the section has \(p.end - p.pos): truncated or damaged")
        }
        let base = try p.f64s(scores)
        if combine == .average, base.contains(where: { $0 != 0 }) { throw .badModel("averaged trees have a base score") }
        var treeStart: [Int32] = []
        var treeScore: [Int32] = []
        treeStart.reserveCapacity(trees)
        treeScore.reserveCapacity(trees)
        for t in 0..<trees {
            let s = Int32(bitPattern: try p.u32())
            let c = Int32(bitPattern: try p.u32())
            guard s >= 0, Int(s) < nodes, t == 0 ? s == 0 : s > treeStart[t - 1], c >= 0, Int(c) < scores,
                  combine == .sum || c == 0 else {
                throw .badModel("tree \(t + 1) has a bad start or score channel")
            }
            treeStart.append(s)
            treeScore.append(c)
        }
        var feature = [Int32](repeating: 0, count: nodes)
        var threshold = [Double](repeating: 0, count: nodes)
        var missingLeft = [Bool](repeating: false, count: nodes)
        var left = [Int32](repeating: 0, count: nodes)
        var right = [Int32](repeating: 0, count: nodes)
        var reached = [Bool](repeating: false, count: nodes)
        var leafUsed = [Bool](repeating: false, count: leaves)
        var leafNodes = 0
        var t = 0
        for i in 0..<nodes {
            while t + 1 < trees, Int(treeStart[t + 1]) <= i { t += 1 }
            let end = t + 1 < trees ? Int(treeStart[t + 1]) : nodes
            let f = Int32(bitPattern: try p.u32())
            let th = try p.f64()
            let flags = try p.u8()
            let l = Int32(bitPattern: try p.u32())
            let r = Int32(bitPattern: try p.u32())
            guard flags <= 1 else { throw .badModel("tree node \(i) has unknown flags") }
            // a root is reached from no node, any other node from exactly one (its parent comes first)
            guard reached[i] == (i != Int(treeStart[t])) else {
                throw .badModel("tree node \(i) is not reached from its tree's root: damaged")
            }
            if f < 0 {
                guard f == -1, l >= 0, Int(l) < leaves, r == -1, flags == 0, th.bitPattern == 0, !leafUsed[Int(l)] else {
                    throw .badModel("tree leaf \(i) is damaged")
                }
                leafUsed[Int(l)] = true
                leafNodes += 1
            } else {
                guard Int(f) < d, Int(l) > i, Int(l) < end, Int(r) > i, Int(r) < end, l != r else {
                    throw .badModel("tree node \(i) is damaged")
                }
                guard !reached[Int(l)], !reached[Int(r)] else {
                    throw .badModel("tree node \(i) shares a child with another node: the trees are damaged")
                }
                reached[Int(l)] = true
                reached[Int(r)] = true
            }
            feature[i] = f
            threshold[i] = th
            missingLeft[i] = flags == 1
            left[i] = l
            right[i] = r
        }
        guard leafNodes == leaves else { throw .badModel("tree ensemble declares \(leaves) leaves but holds \(leafNodes)") }
        let values = try p.f64s(leaves * outputs)
        if combine == .average, k > 0 {
            // class probabilities: each in [0, 1], summing to 1
            for leaf in 0..<leaves {
                var sum = 0.0
                for c in 0..<outputs {
                    let v = values[leaf * outputs + c]
                    guard v >= 0, v <= 1 else { throw .badModel("tree leaf \(leaf) has a class probability outside [0, 1]") }
                    sum += v
                }
                guard abs(sum - 1) <= 1e-6 else { throw .badModel("the class probabilities of tree leaf \(leaf) do not sum to 1") }
            }
        }
        let importance = try p.f64s(d)
        return TreeEnsemble(combine: combine, outputs: outputs, scores: scores, base: base, treeStart: treeStart,
                            treeScore: treeScore, feature: feature, threshold: threshold, missingLeft: missingLeft,
                            left: left, right: right, values: values, importance: importance)
    }

    // MARK: describe

    func describe(into members: inout [(String, JSONValue)], algorithm: Algorithm, classCount k: Int) {
        func numbers(_ a: [Double]) -> JSONValue { .array(a.map { .number($0) }) }
        members.append(("n_trees", .number(Double(treeCount))))
        if combine == .sum {
            members.append(("rounds", .number(Double(treeCount / max(scores, 1)))))
            members.append(("base_score", numbers(base)))
        }
        members.append(("nodes", .number(Double(nodeCount))))
        members.append(("leaves", .number(Double(leafCount))))
        let d = depths
        members.append(("depth", .object([
            ("min", .number(Double(d.min() ?? 0))),
            ("max", .number(Double(d.max() ?? 0))),
            ("mean", .number(Double(d.reduce(0, +)) / Double(max(d.count, 1)))),
        ])))
        members.append(("feature_importance", numbers(importance)))
        // The trees themselves while they are small enough to read.
        guard nodeCount <= TreeEnsemble.describeNodeLimit else { return }
        var trees: [JSONValue] = []
        for t in 0..<treeCount {
            let start = Int(treeStart[t])
            var nodes: [JSONValue] = []
            for i in start..<treeEnd(t) {
                if feature[i] < 0 {
                    let o = Int(left[i]) * outputs
                    let v = Array(values[o..<(o + outputs)])
                    nodes.append(.object([("leaf", outputs == 1 ? .number(v[0]) : numbers(v))]))
                } else {
                    nodes.append(.object([
                        ("feature", .number(Double(feature[i]) + 1)),
                        ("threshold", .number(threshold[i])),
                        ("missing", .string(missingLeft[i] ? "left" : "right")),
                        ("left", .number(Double(Int(left[i]) - start))),
                        ("right", .number(Double(Int(right[i]) - start))),
                    ]))
                }
            }
            var tree: [(String, JSONValue)] = []
            if combine == .sum, scores > 1 { tree.append(("class", .number(Double(treeScore[t])))) }
            tree.append(("nodes", .array(nodes)))
            trees.append(.object(tree))
        }
        members.append(("trees", .array(trees)))
    }

    /// ml.describe lists the nodes of ensembles up to this size.
    public static let describeNodeLimit = 4096
}

/// A tree ensemble laid out for scoring. Each tree is stored breadth first with the
/// two children of a node side by side, so a step is `left + (goes right ? 1 : 0)`
/// without a branch; a leaf points to itself and lets everything "go left", so a tree
/// can be walked a fixed number of steps (its depth). All trees advance one level at a
/// time, which lets their memory loads overlap. Nodes take 16 bytes.
final class CompiledTrees: @unchecked Sendable {
    struct Node {
        var threshold: Double
        var left: Int32
        var feature: UInt16
        var missingLeft: UInt8
        var pad: UInt8 = 0
    }

    let nodes: UnsafeMutableBufferPointer<Node>
    /// Leaf node → its value ordinal (internal nodes: unused).
    let leafOrdinal: UnsafeMutableBufferPointer<Int32>
    let values: UnsafeMutableBufferPointer<Double>
    let roots: [Int]
    /// Steps from the root to the deepest leaf, per tree.
    let depths: [Int]
    /// Trees by depth, deepest first.
    let deepestFirst: [(tree: Int, depth: Int)]
    let treeScore: [Int]
    let base: [Double]
    let combine: TreeEnsemble.Combine
    let outputs: Int
    let scores: Int
    let featureCount: Int
    /// Classes (0 for regression).
    let classCount: Int

    init(_ e: TreeEnsemble, featureCount: Int, classCount: Int) {
        let count = max(e.nodeCount, 1)
        nodes = .allocate(capacity: count)
        leafOrdinal = .allocate(capacity: count)
        _ = leafOrdinal.initialize(repeating: 0)
        var roots: [Int] = []
        var depths: [Int] = []
        var next = 0
        for start in e.treeStart {
            // breadth-first relayout of one tree: (old index, new slot, depth)
            let root = next
            next += 1
            var queue = [(Int(start), root, 0)]
            var head = 0
            var deepest = 0
            while head < queue.count {
                let (old, slot, depth) = queue[head]
                head += 1
                deepest = max(deepest, depth)
                if e.feature[old] < 0 {
                    (nodes.baseAddress! + slot).initialize(to: Node(threshold: .infinity, left: Int32(slot), feature: 0, missingLeft: 1))
                    leafOrdinal[slot] = e.left[old]
                } else {
                    let children = next
                    next += 2
                    (nodes.baseAddress! + slot).initialize(to: Node(threshold: e.threshold[old], left: Int32(children),
                                                                     feature: UInt16(e.feature[old]),
                                                                     missingLeft: e.missingLeft[old] ? 1 : 0))
                    queue.append((Int(e.left[old]), children, depth + 1))
                    queue.append((Int(e.right[old]), children + 1, depth + 1))
                }
            }
            roots.append(root)
            depths.append(deepest)
        }
        values = .allocate(capacity: max(e.values.count, 1))
        _ = values.initialize(from: e.values)
        self.roots = roots
        self.depths = depths
        deepestFirst = depths.enumerated().map { (tree: $0.offset, depth: $0.element) }
            .sorted { $0.depth != $1.depth ? $0.depth > $1.depth : $0.tree < $1.tree }
        treeScore = e.treeScore.map { Int($0) }
        base = e.base
        combine = e.combine
        outputs = e.outputs
        scores = e.scores
        self.featureCount = featureCount
        self.classCount = classCount
    }

    deinit {
        nodes.deallocate()
        leafOrdinal.deallocate()
        values.deallocate()
    }

    /// NaN means missing; ±Infinity is refused.
    func check(_ x: UnsafePointer<Double>, _ n: Int) throws(ScoreError) {
        guard n == featureCount else {
            throw .badShape("the model expects \(featureCount) features, got \(n)",
                            hint: "Pass the features in the order and number used for training.")
        }
        for j in 0..<n where x[j].isInfinite {
            throw .badValue("feature \(j + 1) is \(sqlSpelling(x[j])); features must be finite numbers or NaN/NULL (missing)")
        }
    }

    /// One step down: `left`, or `left + 1` when x goes right (above the threshold, or
    /// missing where missing values go right). Bits, not branches: which way a row goes
    /// is unpredictable, and mispredicted branches cost more than the arithmetic.
    @inline(__always)
    func step(_ p: UnsafeMutablePointer<Node>, _ i: Int, _ x: UnsafePointer<Double>) -> Int {
        let node = p[i]
        let v = x[Int(node.feature)]
        let above = Int(unsafeBitCast(v > node.threshold, to: UInt8.self))
        let missing = Int(unsafeBitCast(v != v, to: UInt8.self))
        return Int(node.left) &+ (above | (missing & (1 &- Int(node.missingLeft))))
    }

    /// The leaf reached in every tree, level by level across all trees: the loads of
    /// one level are independent, so the processor overlaps them (a tree walked alone
    /// waits for each node before it can fetch the next).
    @inline(__always)
    func walk(_ x: UnsafePointer<Double>, into idx: UnsafeMutablePointer<Int>) {
        let p = nodes.baseAddress!
        let count = roots.count
        for t in 0..<count { idx[t] = roots[t] }
        var active = count
        var level = 0
        while active > 0 {
            while active > 0 && deepestFirst[active - 1].depth <= level { active -= 1 }
            for k in 0..<active {
                let t = deepestFirst[k].tree
                idx[t] = step(p, idx[t], x)
            }
            level += 1
        }
        let o = leafOrdinal.baseAddress!
        for t in 0..<count { idx[t] = Int(o[idx[t]]) }
    }

    /// Raw outputs: `.average`: mean leaf values (outputs); `.sum`: channel scores.
    func raw(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let v = values.baseAddress!
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(roots.count, 1)) { buffer in
            let leaf = buffer.baseAddress!
            walk(x, into: leaf)
            switch combine {
            case .average:
                for c in 0..<outputs { out[c] = 0 }
                for t in 0..<roots.count {
                    let at = v + leaf[t] * outputs
                    for c in 0..<outputs { out[c] += at[c] }
                }
                let scale = 1 / Double(roots.count)
                for c in 0..<outputs { out[c] *= scale }
            case .sum:
                for c in 0..<scores { out[c] = base[c] }
                for t in 0..<roots.count { out[treeScore[t]] += v[leaf[t]] }
            }
        }
    }

    /// Fills class probabilities (classCount) and returns the predicted class; for a
    /// regressor returns -1 and writes the value to out[0].
    /// Throws when a score is not finite (parameters that overflow for these features);
    /// averaged class probabilities are renormalised to sum to 1 exactly.
    func classify(_ x: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) throws(ScoreError) -> Int {
        raw(x, into: out)
        if classCount == 0 {
            guard out[0].isFinite else { throw Scorer.overflow() }
            return -1
        }
        if combine == .sum {
            if scores == 1 {
                let s = out[0]
                if s.isNaN { throw Scorer.overflow() }
                let p1 = s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s))
                out[0] = 1 - p1
                out[1] = p1
                return s > 0 ? 1 : 0
            }
            for c in 0..<scores where !out[c].isFinite { throw Scorer.overflow() }
            var best = 0
            var top = out[0]
            for c in 1..<scores where out[c] > top {
                top = out[c]
                best = c
            }
            Scorer.softmax(out, count: scores, top: top)
            return best
        }
        var best = 0
        var sum = 0.0
        for c in 0..<classCount {
            sum += out[c]
            if out[c] > out[best] { best = c }
        }
        guard sum > 0, sum.isFinite else { throw Scorer.overflow() }
        if abs(sum - 1) > 1e-12 { for c in 0..<classCount { out[c] /= sum } }
        return best
    }

    func predict(_ x: UnsafePointer<Double>, count n: Int) throws(ScoreError) -> Prediction {
        try check(x, n)
        return try typed {
            try withUnsafeTemporaryAllocation(of: Double.self, capacity: max(outputs, scores, classCount, 2)) { buf in
                let out = buf.baseAddress!
                let c = try classify(x, into: out)
                return c < 0 ? Prediction.value(out[0]) : .classIndex(c)
            }
        }
    }
}
