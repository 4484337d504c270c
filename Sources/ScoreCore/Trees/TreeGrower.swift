/// Settings of one tree's growth.
struct GrowSettings {
    /// 0: no limit.
    var maxDepth: Int
    var minSamplesLeaf: Int
    /// Least denominator (hessian sum) per child; 0 for CART.
    var minChildWeight: Double
    /// Added to every denominator (boosting's L2 on leaf weights); 0 for CART.
    var lambda: Double
    /// Features tried per split (≤ d).
    var featuresPerSplit: Int
}

/// Grows trees on histograms of binned features.
///
/// Each histogram bin holds `stride` doubles: slot 0 counts rows; then
///  * CART classification: one count per class (stride 1 + K);
///  * CART regression: the sum of (centered) targets (stride 2);
///  * boosting: the hessian sum, then the gradient sum (stride 3).
/// A split's gain is Σ score(child) − score(parent) with score = Σ_c S_c² / (D + λ),
/// where D is the count (CART) or the hessian sum (boosting) and S_c the sums: for
/// Gini this is the decrease of count × impurity, for squared error the decrease of the
/// sum of squares, for boosting twice XGBoost's gain (−G²/(H+λ) is twice the optimal
/// loss change of a leaf with weight −G/(H+λ)).
///
/// Every candidate threshold of a feature is tried twice when the node has missing
/// values for it: missing rows left, and missing rows right; a node without missing
/// values sends them to the child with more rows. "All values left, missing right" is
/// a candidate too.
///
/// Histograms: the smaller child's is built from its rows and the larger one's is the
/// parent's minus it, when every feature is tried at each split. When only some are
/// (features_per_split < d) a node builds the histograms of its sampled features only.
/// A node with fewer rows than about the mean bin count (`smallNode`) skips histograms:
/// it sorts its rows' codes per feature and scans the non-empty bins, which gives the
/// same candidates (deep trees are mostly such nodes).
/// Histogram memory: (Σ_j (bins_j + 1)) × stride × 8 bytes each, at most `poolLimit`
/// of them (a pending node whose histogram was taken rebuilds it from its rows).
final class TreeGrower {
    enum Mode {
        case classification
        case regression
        case boosting
    }

    let data: TreeData
    let mode: Mode
    let d: Int
    let stride: Int
    let sumStart: Int
    let sums: Int
    let denSlot: Int
    let featureOffset: [Int]
    let histDoubles: Int
    let missingCode: [Int32]
    let settings: GrowSettings
    let fullMode: Bool
    let poolLimit: Int

    // Per tree inputs.
    var grad: UnsafePointer<Double>?
    var hess: UnsafePointer<Double>?
    /// Regression: targets minus `targetShift` are what the histograms sum.
    var targetShift = 0.0
    /// Boosting: the learning rate, folded into leaf values.
    var leafScale = 1.0

    private var pool: [UnsafeMutablePointer<Double>] = []
    private var free: [Int] = []
    private let scratch: UnsafeMutablePointer<Int32>
    private let scratchCapacity: Int
    private var perm: [Int]
    private let vec: UnsafeMutablePointer<Double>   // 4 vectors of stride doubles
    /// Nodes with fewer rows search splits from their rows instead of histograms.
    let smallNode: Int
    private let sparseKeys: UnsafeMutablePointer<UInt64>
    private let sparseEntries: UnsafeMutablePointer<Double>
    private let sparseCodes: UnsafeMutablePointer<Int32>

    /// Leaves of the last tree grown: node, and its rows' range in the rows buffer.
    var leaves: [(node: Int, begin: Int, end: Int)] = []

    static let histogramBudget = 256 << 20

    init(data: TreeData, mode: Mode, settings: GrowSettings, maxRows: Int) throws(ScoreError) {
        self.data = data
        self.mode = mode
        d = data.d
        switch mode {
        case .classification:
            stride = 1 + data.classCount
            sumStart = 1
            sums = data.classCount
            denSlot = 0
        case .regression:
            stride = 2
            sumStart = 1
            sums = 1
            denSlot = 0
        case .boosting:
            stride = 3
            sumStart = 2
            sums = 1
            denSlot = 1
        }
        var offsets: [Int] = []
        var total = 0
        for j in 0..<data.d {
            offsets.append(total)
            total += (data.binCount[j] + 1) * stride
        }
        featureOffset = offsets
        histDoubles = total
        missingCode = data.binCount.map { Int32($0) }
        self.settings = settings
        fullMode = settings.featuresPerSplit >= data.d
        let bytes = total * 8
        guard bytes <= TreeGrower.histogramBudget else {
            throw .limit("a split histogram would take \(bytes >> 20) MB (\(data.d) features × bins × \(stride) sums); the limit is \(TreeGrower.histogramBudget >> 20) MB",
                         hint: "Use fewer features or classes, or a smaller max_bins.")
        }
        let depthCap = settings.maxDepth == 0 ? Int.max : settings.maxDepth + 2
        poolLimit = max(2, min(depthCap, 2 * TreeGrower.histogramBudget / max(bytes, 1)))
        scratchCapacity = max(maxRows, 1)
        scratch = .allocate(capacity: scratchCapacity)
        perm = Array(0..<data.d)
        vec = .allocate(capacity: 4 * stride)
        // sparse search costs about c·log c per feature, the dense one a pass over the bins
        let meanBins = data.binCount.reduce(0, +) / max(data.d, 1)
        smallNode = min(max(meanBins, 8), 256)
        sparseKeys = .allocate(capacity: smallNode)
        sparseEntries = .allocate(capacity: (smallNode + 1) * stride)
        sparseCodes = .allocate(capacity: smallNode)
    }

    deinit {
        for b in pool { b.deallocate() }
        scratch.deallocate()
        vec.deallocate()
        sparseKeys.deallocate()
        sparseEntries.deallocate()
        sparseCodes.deallocate()
    }

    private struct Pending {
        var node: Int
        var begin: Int
        var end: Int
        var depth: Int
        var hist: Int
        var total: [Double]
    }

    private var stack: [Pending] = []

    private func acquire() -> Int {
        if let i = free.popLast() { return i }
        if pool.count < poolLimit {
            pool.append(.allocate(capacity: max(histDoubles, 1)))
            return pool.count - 1
        }
        // Take the histogram of the pending node that waits longest; it is rebuilt later.
        for s in stack.indices where stack[s].hist >= 0 {
            let h = stack[s].hist
            stack[s].hist = -1
            return h
        }
        fatalError("histogram pool exhausted")   // unreachable: poolLimit ≥ 2
    }

    private func release(_ h: Int) {
        if h >= 0 { free.append(h) }
    }

    // MARK: histograms

    /// Adds rows[begin..<end] into `h` for features `feats` (their regions zeroed first).
    private func build(_ h: UnsafeMutablePointer<Double>, rows: UnsafePointer<Int32>, _ begin: Int, _ end: Int,
                       features feats: UnsafeBufferPointer<Int>) {
        let d = self.d, stride = self.stride
        let codes = data.codes
        featureOffset.withUnsafeBufferPointer { off in
            if feats.count == d {
                h.update(repeating: 0, count: histDoubles)
            } else {
                for j in feats { (h + off[j]).update(repeating: 0, count: (data.binCount[j] + 1) * stride) }
            }
            switch mode {
            case .boosting:
                let g = grad!, hs = hess!
                if feats.count == d {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let gr = g[r], hr = hs[r]
                        let x = codes + r * d
                        for j in 0..<d {
                            let e = h + off[j] + Int(x[j]) * 3
                            e[0] += 1
                            e[1] += hr
                            e[2] += gr
                        }
                    }
                } else {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let gr = g[r], hr = hs[r]
                        let x = codes + r * d
                        for j in feats {
                            let e = h + off[j] + Int(x[j]) * 3
                            e[0] += 1
                            e[1] += hr
                            e[2] += gr
                        }
                    }
                }
            case .regression:
                let y = data.target, shift = targetShift
                if feats.count == d {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let v = y[r] - shift
                        let x = codes + r * d
                        for j in 0..<d {
                            let e = h + off[j] + Int(x[j]) * 2
                            e[0] += 1
                            e[1] += v
                        }
                    }
                } else {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let v = y[r] - shift
                        let x = codes + r * d
                        for j in feats {
                            let e = h + off[j] + Int(x[j]) * 2
                            e[0] += 1
                            e[1] += v
                        }
                    }
                }
            case .classification:
                let y = data.label
                if feats.count == d {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let c = 1 + Int(y[r])
                        let x = codes + r * d
                        for j in 0..<d {
                            let e = h + off[j] + Int(x[j]) * stride
                            e[0] += 1
                            e[c] += 1
                        }
                    }
                } else {
                    for i in begin..<end {
                        let r = Int(rows[i])
                        let c = 1 + Int(y[r])
                        let x = codes + r * d
                        for j in feats {
                            let e = h + off[j] + Int(x[j]) * stride
                            e[0] += 1
                            e[c] += 1
                        }
                    }
                }
            }
        }
    }

    /// The sums of rows[begin..<end] (one histogram bin's worth).
    private func totals(rows: UnsafePointer<Int32>, _ begin: Int, _ end: Int) -> [Double] {
        var t = [Double](repeating: 0, count: stride)
        t.withUnsafeMutableBufferPointer { tp in
            for i in begin..<end { add(row: Int(rows[i]), to: tp.baseAddress!) }
        }
        return t
    }

    // MARK: split search

    struct Split {
        var feature = -1
        var bin = 0
        var missingLeft = false
        var gain = 0.0
    }

    @inline(__always)
    private func score(_ v: UnsafePointer<Double>) -> Double {
        let den = v[denSlot] + settings.lambda
        guard den > 0 else { return 0 }
        var s = 0.0
        for c in 0..<sums { s += v[sumStart + c] * v[sumStart + c] }
        return s / den
    }

    /// Best split of feature j into `best` (if better) from its dense histogram at `h`;
    /// returns whether the feature had any admissible split.
    private func search(_ h: UnsafePointer<Double>, feature j: Int, total t: UnsafePointer<Double>,
                        parentScore: Double, best: inout Split) -> Bool {
        let nb = data.binCount[j]
        let base = h + featureOffset[j]
        return scan(base, codes: nil, entries: nb, missing: base + nb * stride, feature: j, total: t,
                    parentScore: parentScore, best: &best)
    }

    /// The split search proper, over value bins in increasing code order: `entries` bins
    /// of `stride` doubles at `values`, their codes (nil: 0, 1, 2, ...), the missing bin.
    private func scan(_ values: UnsafePointer<Double>, codes: UnsafePointer<Int32>?, entries: Int,
                      missing m: UnsafePointer<Double>, feature j: Int, total t: UnsafePointer<Double>,
                      parentScore: Double, best: inout Split) -> Bool {
        let stride = self.stride, sums = self.sums, ss = sumStart, den = denSlot
        let lambda = settings.lambda
        let minLeaf = Double(settings.minSamplesLeaf), minWeight = settings.minChildWeight
        let nb = data.binCount[j]
        let l = vec                          // running left sums
        l.update(repeating: 0, count: stride)
        let hasMissing = m[0] > 0
        var admissible = false

        @inline(__always)
        func consider(_ bin: Int, missingLeft: Bool, withMissing: Bool) {
            // left = l (+ m), right = t − left
            let mf = withMissing ? 1.0 : 0.0
            let cl = l[0] + mf * m[0], cr = t[0] - cl
            guard cl >= minLeaf, cr >= minLeaf else { return }
            let dl = l[den] + mf * m[den], dr = t[den] - dl
            guard dl >= minWeight, dr >= minWeight else { return }
            var sl = 0.0, sr = 0.0
            for c in 0..<sums {
                let a = l[ss + c] + mf * m[ss + c]
                let b = t[ss + c] - a
                sl += a * a
                sr += b * b
            }
            let scoreL = dl + lambda > 0 ? sl / (dl + lambda) : 0
            let scoreR = dr + lambda > 0 ? sr / (dr + lambda) : 0
            let gain = scoreL + scoreR - parentScore
            admissible = true
            if gain > best.gain, gain > 1e-10 * (scoreL + scoreR) {
                best = Split(feature: j, bin: bin, missingLeft: missingLeft, gain: gain)
            }
        }

        if entries > 1 {
            for e in 0..<(entries - 1) {
                let v = values + e * stride
                for s in 0..<stride { l[s] += v[s] }
                let b = codes.map { Int($0[e]) } ?? e
                if hasMissing {
                    consider(b, missingLeft: false, withMissing: false)
                    consider(b, missingLeft: true, withMissing: true)
                } else {
                    // no missing values here: they will go to the larger child
                    consider(b, missingLeft: false, withMissing: false)
                    if best.feature == j, best.bin == b { best.missingLeft = l[0] >= t[0] - l[0] }
                }
            }
        }
        if hasMissing, m[0] < t[0] {
            // every value left, missing right
            for s in 0..<stride { l[s] = t[s] - m[s] }
            consider(nb - 1, missingLeft: false, withMissing: false)
        }
        return admissible
    }

    /// Adds row r's statistics to the bin at `e`.
    @inline(__always)
    private func add(row r: Int, to e: UnsafeMutablePointer<Double>) {
        e[0] += 1
        switch mode {
        case .boosting:
            e[1] += hess![r]
            e[2] += grad![r]
        case .regression:
            e[1] += data.target[r] - targetShift
        case .classification:
            e[1 + Int(data.label[r])] += 1
        }
    }

    /// The split search of feature j on a small node, from its rows: the non-empty bins
    /// only, in code order (the same candidates as the dense histogram).
    private func sparseSearch(rows: UnsafePointer<Int32>, _ begin: Int, _ end: Int, feature j: Int,
                              total t: UnsafePointer<Double>, parentScore: Double, best: inout Split) -> Bool {
        let c = end - begin, d = self.d, stride = self.stride
        let keys = sparseKeys, entries = sparseEntries, codes = sparseCodes
        for i in 0..<c { keys[i] = UInt64(data.codes[Int(rows[begin + i]) * d + j]) << 32 | UInt64(i) }
        // insertion sort: c is small, and rows are often already in code order
        for i in 1..<max(c, 1) {
            let k = keys[i]
            var q = i
            while q > 0, keys[q - 1] > k {
                keys[q] = keys[q - 1]
                q -= 1
            }
            keys[q] = k
        }
        let mcode = UInt64(data.binCount[j])
        let missing = entries + c * stride
        missing.update(repeating: 0, count: stride)
        var n = 0
        var last = UInt64.max
        for i in 0..<c {
            let code = keys[i] >> 32
            let r = Int(rows[begin + Int(keys[i] & 0xFFFF_FFFF)])
            if code == mcode {
                add(row: r, to: missing)
                continue
            }
            if code != last {
                (entries + n * stride).update(repeating: 0, count: stride)
                codes[n] = Int32(code)
                n += 1
                last = code
            }
            add(row: r, to: entries + (n - 1) * stride)
        }
        return scan(entries, codes: codes, entries: n, missing: missing, feature: j, total: t,
                    parentScore: parentScore, best: &best)
    }

    private func isPure(_ t: [Double]) -> Bool {
        guard mode == .classification else { return false }
        for c in 0..<sums where t[sumStart + c] == t[0] { return true }
        return false
    }

    private func canSplit(_ t: [Double], count: Int, depth: Int) -> Bool {
        (settings.maxDepth == 0 || depth < settings.maxDepth)
            && count >= 2 * settings.minSamplesLeaf
            && t[denSlot] >= 2 * settings.minChildWeight
            && !isPure(t)
    }

    private func leafValues(_ t: [Double], into out: UnsafeMutablePointer<Double>) {
        switch mode {
        case .classification:
            for c in 0..<sums { out[c] = t[1 + c] / t[0] }
        case .regression:
            out[0] = t[1] / t[0] + targetShift
        case .boosting:
            let den = t[1] + settings.lambda
            out[0] = den > 0 ? -t[2] / den * leafScale : 0
            if out[0] == 0 { out[0] = 0 }   // no -0
        }
    }

    // MARK: growing

    /// Grows one tree over rows[0..<count] (reordered in place; duplicates allowed),
    /// appending its nodes to `out`; the tree must have been started there.
    func grow(rows: UnsafeMutablePointer<Int32>, count: Int, rng: inout TreeRandom, into out: inout EnsembleBuilder,
              stop: StopCheck) throws(ScoreError) {
        precondition(count <= scratchCapacity)
        leaves = []
        stack = []
        let allFeatures = Array(0..<d)
        let leafBuffer = UnsafeMutablePointer<Double>.allocate(capacity: max(out.outputs, 1))
        defer { leafBuffer.deallocate() }
        let root = try out.addNode()
        stack.append(Pending(node: root, begin: 0, end: count, depth: 0, hist: -1, total: totals(rows: rows, 0, count)))
        let m = min(settings.featuresPerSplit, d)
        while let p = stack.popLast() {
            if stop() {
                release(p.hist)
                for s in stack { release(s.hist) }
                stack = []
                throw .interrupted
            }
            var best = Split()
            let parentScore = p.total.withUnsafeBufferPointer { score($0.baseAddress!) }
            var hist = p.hist
            let small = p.end - p.begin < smallNode
            if canSplit(p.total, count: p.end - p.begin, depth: p.depth) {
                p.total.withUnsafeBufferPointer { tb in
                    let t = tb.baseAddress!
                    if small {
                        release(hist)
                        hist = -1
                        if fullMode {
                            for j in 0..<d {
                                _ = sparseSearch(rows: rows, p.begin, p.end, feature: j, total: t, parentScore: parentScore, best: &best)
                            }
                        } else {
                            var valid = 0, pos = 0
                            while pos < d, valid < m {
                                perm.swapAt(pos, pos + rng.below(d - pos))
                                if sparseSearch(rows: rows, p.begin, p.end, feature: perm[pos], total: t,
                                                parentScore: parentScore, best: &best) {
                                    valid += 1
                                }
                                pos += 1
                            }
                        }
                    } else if fullMode {
                        if hist < 0 {
                            hist = acquire()
                            allFeatures.withUnsafeBufferPointer { build(pool[hist], rows: rows, p.begin, p.end, features: $0) }
                        }
                        for j in 0..<d { _ = search(pool[hist], feature: j, total: t, parentScore: parentScore, best: &best) }
                    } else {
                        if hist < 0 { hist = acquire() }
                        var valid = 0, pos = 0
                        while pos < d, valid < m {
                            let batch = min(m - valid, d - pos)
                            for q in pos..<(pos + batch) { perm.swapAt(q, q + rng.below(d - q)) }
                            let h = pool[hist]
                            perm[pos..<(pos + batch)].withUnsafeBufferPointer { build(h, rows: rows, p.begin, p.end, features: $0) }
                            for q in pos..<(pos + batch)
                            where search(h, feature: perm[q], total: t, parentScore: parentScore, best: &best) {
                                valid += 1
                            }
                            pos += batch
                        }
                    }
                }
            }
            if best.feature < 0 {
                release(hist)
                leafValues(p.total, into: leafBuffer)
                out.makeLeaf(p.node, values: leafBuffer)
                leaves.append((p.node, p.begin, p.end))
                continue
            }

            // Partition rows: left ones stay in front, in order; right ones follow, in order.
            let f = best.feature, bin = Int32(best.bin), mcode = missingCode[f], mleft = best.missingLeft
            let codes = data.codes
            var lEnd = p.begin, rCount = 0
            for i in p.begin..<p.end {
                // branch-free: write both ways, advance one
                let r = rows[i]
                let c = Int32(codes[Int(r) * d + f])
                let goLeft = (c == mcode ? mleft : c <= bin) ? 1 : 0
                rows[lEnd] = r
                scratch[rCount] = r
                lEnd += goLeft
                rCount += 1 - goLeft
            }
            (rows + lEnd).update(from: scratch, count: rCount)
            // Children sums: from the split feature's histogram when there is one.
            var lt: [Double], rt: [Double]
            if hist >= 0 {
                lt = [Double](repeating: 0, count: stride)
                rt = lt
                let h = pool[hist] + featureOffset[f]
                let nb = data.binCount[f]
                for b in 0..<min(Int(bin) + 1, nb) {
                    for s in 0..<stride { lt[s] += h[b * stride + s] }
                }
                if mleft { for s in 0..<stride { lt[s] += h[nb * stride + s] } }
                for s in 0..<stride { rt[s] = p.total[s] - lt[s] }
                // exact counts (sums of whole numbers are exact below 2^53)
                lt[0] = Double(lEnd - p.begin)
                rt[0] = Double(p.end - lEnd)
            } else {
                lt = totals(rows: rows, p.begin, lEnd)
                rt = totals(rows: rows, lEnd, p.end)
            }

            let li = try out.addNode(), ri = try out.addNode()
            out.feature[p.node] = Int32(f)
            out.splitBin[p.node] = bin
            out.missingLeft[p.node] = mleft
            out.left[p.node] = Int32(li)
            out.right[p.node] = Int32(ri)
            out.gain[p.node] = best.gain
            out.threshold[p.node] = best.bin < data.binCount[f] - 1 ? data.thresholds[f][best.bin] : Double.greatestFiniteMagnitude

            var leftChild = Pending(node: li, begin: p.begin, end: lEnd, depth: p.depth + 1, hist: -1, total: lt)
            var rightChild = Pending(node: ri, begin: lEnd, end: p.end, depth: p.depth + 1, hist: -1, total: rt)
            let lc = lEnd - p.begin, rc = p.end - lEnd
            let needL = canSplit(lt, count: lc, depth: p.depth + 1) && lc >= smallNode
            let needR = canSplit(rt, count: rc, depth: p.depth + 1) && rc >= smallNode
            if fullMode, hist >= 0, needL || needR {
                let leftSmaller = lc <= rc
                if needL && needR || (needL ? !leftSmaller : leftSmaller) {
                    // build the smaller child, subtract it from the parent for the larger
                    let small = acquire()
                    allFeatures.withUnsafeBufferPointer { all in
                        if leftSmaller {
                            build(pool[small], rows: rows, p.begin, lEnd, features: all)
                        } else {
                            build(pool[small], rows: rows, lEnd, p.end, features: all)
                        }
                    }
                    let parent = pool[hist], sb = pool[small]
                    for i in 0..<histDoubles { parent[i] -= sb[i] }
                    if leftSmaller {
                        leftChild.hist = needL ? small : -1
                        rightChild.hist = hist
                    } else {
                        rightChild.hist = needR ? small : -1
                        leftChild.hist = hist
                    }
                    if leftSmaller ? !needL : !needR { release(small) }
                } else {
                    // only the smaller child goes on: build it in the parent's buffer
                    allFeatures.withUnsafeBufferPointer { all in
                        if needL {
                            build(pool[hist], rows: rows, p.begin, lEnd, features: all)
                        } else {
                            build(pool[hist], rows: rows, lEnd, p.end, features: all)
                        }
                    }
                    if needL { leftChild.hist = hist } else { rightChild.hist = hist }
                }
            } else {
                release(hist)
            }
            stack.append(rightChild)
            stack.append(leftChild)
        }
    }
}
