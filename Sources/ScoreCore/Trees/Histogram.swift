/// Training rows as the tree learners see them: every feature binned once into a
/// one-byte code, rows in a canonical order, labels alongside.
///
/// **Bins.** A feature with at most `maxBins` distinct values gets one bin per value and
/// thresholds halfway between neighbours: splits are then exactly those of an exact
/// (CART) search. A feature with more values gets at most `maxBins` quantile bins
/// (computed on all rows up to 2^18, on an evenly spaced sample of 2^18 rows beyond).
/// Code `binCount[j]` (≤ 255) means missing (NaN). A value v has code b when
/// `thresholds[j][b-1] < v <= thresholds[j][b]`, so a split "code ≤ b" is the split
/// "x ≤ thresholds[j][b]" on raw values: what the model stores.
///
/// **Canonical order.** Rows are sorted by a 128-bit hash of their content (features,
/// label). Training then never depends on the order the host delivered the rows in:
/// a parallel plan, which interleaves rows of several workers, gives the same model as
/// a serial one, bit for bit. Rows with the same hash are identical (up to a 2^-128
/// accident), so their relative order does not matter.
///
/// **Memory** (n rows, d features): codes n·d bytes; labels 4n (classes) or 8n (values);
/// while loading also 24n for the sort keys, 4n for ranks, the labels again in arrival
/// order, and a sample of at most 2^18 values per feature. The host's own copy of the
/// rows (8·d + 4 or 8 bytes a row) is only read.
final class TreeData {
    let n: Int
    let d: Int
    /// 0 for regression.
    let classCount: Int
    let codes: UnsafeMutablePointer<UInt8>
    /// Class index per row (classification), canonical order.
    let label: UnsafeMutablePointer<Int32>
    /// Target per row (regression), canonical order.
    let target: UnsafeMutablePointer<Double>
    /// Per feature: thresholds between value bins (binCount − 1 of them).
    let thresholds: [[Double]]
    /// Per feature: value bins (≥ 1); the missing code is binCount[j].
    let binCount: [Int]
    /// Per feature: rows where it is missing.
    let missingCount: [Int]
    /// Rows per class (classification).
    let classRows: [Int]

    static let sampleLimit = 1 << 18

    private init(n: Int, d: Int, classCount: Int, codes: UnsafeMutablePointer<UInt8>, label: UnsafeMutablePointer<Int32>,
                 target: UnsafeMutablePointer<Double>, thresholds: [[Double]], binCount: [Int], missingCount: [Int],
                 classRows: [Int]) {
        self.n = n
        self.d = d
        self.classCount = classCount
        self.codes = codes
        self.label = label
        self.target = target
        self.thresholds = thresholds
        self.binCount = binCount
        self.missingCount = missingCount
        self.classRows = classRows
    }

    deinit {
        codes.deallocate()
        label.deallocate()
        target.deallocate()
    }

    enum Labels {
        case classes(classOf: [Int32], count: Int)
        case values
    }

    /// Blocks of rows: features, and label ids (Int32) or targets (Double).
    struct ClassRows<R: RowBlocks>: TreeRowSource {
        let rows: R
        func forEachRaw(_ body: (UnsafePointer<Double>, UnsafeRawPointer, Int) throws(ScoreError) -> Void) throws(ScoreError) {
            try rows.forEachBlock { (x, y, count) throws(ScoreError) in try body(x, UnsafeRawPointer(y), count) }
        }
    }

    struct ValueRows<R: RegressionRowBlocks>: TreeRowSource {
        let rows: R
        func forEachRaw(_ body: (UnsafePointer<Double>, UnsafeRawPointer, Int) throws(ScoreError) -> Void) throws(ScoreError) {
            try rows.forEachBlock { (x, y, count) throws(ScoreError) in try body(x, UnsafeRawPointer(y), count) }
        }
    }

    static func load(classification rows: some RowBlocks, classOf: [Int32], classCount: Int, maxBins: Int,
                     stop: StopCheck) throws(ScoreError) -> TreeData {
        try load(d: rows.featureCount, labels: .classes(classOf: classOf, count: classCount), maxBins: maxBins,
                 stop: stop, blocks: ClassRows(rows: rows))
    }

    static func load(regression rows: some RegressionRowBlocks, maxBins: Int, stop: StopCheck) throws(ScoreError) -> TreeData {
        try load(d: rows.featureCount, labels: .values, maxBins: maxBins, stop: stop, blocks: ValueRows(rows: rows))
    }

    struct Key {
        var h1: UInt64
        var h2: UInt64
        var row: Int32
    }

    @inline(__always)
    static func fmix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k = k &* 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k = k &* 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }

    /// Bits of a value for hashing: one NaN, one zero.
    @inline(__always)
    static func canonicalBits(_ v: Double) -> UInt64 {
        v.isNaN ? 0x7FF8_0000_0000_0000 : (v == 0 ? 0 : v.bitPattern)
    }

    static func load(d: Int, labels: Labels, maxBins: Int, stop: StopCheck, blocks: some TreeRowSource) throws(ScoreError) -> TreeData {
        guard d >= 1 else { throw .badShape("rows have no features") }
        let k: Int
        let classOf: [Int32]
        switch labels {
        case let .classes(map, count):
            k = count
            classOf = map
            guard k >= 2 else {
                throw .unfitData("the labels hold only one class; a classifier needs at least two",
                                 hint: "Check the label column and the WHERE clause.")
            }
        case .values:
            k = 0
            classOf = []
        }

        // Pass 1: validate, hash, keep labels in arrival order.
        var keys: [Key] = []
        var arrivalClass: [Int32] = []
        var arrivalTarget: [Double] = []
        var classRows = [Int](repeating: 0, count: k)
        try blocks.forEachRaw { (x, y, count) throws(ScoreError) in
            if stop() { throw .interrupted }
            guard keys.count + count <= Int(Int32.max) else {
                throw .limit("tree models train on at most \(Int32.max) rows", hint: "Train on a sample (TABLESAMPLE).")
            }
            for r in 0..<count {
                var h1: UInt64 = 0x243F_6A88_85A3_08D3
                var h2: UInt64 = 0x1319_8A2E_0370_7344
                if k > 0 {
                    let id = Int(y.load(fromByteOffset: r * 4, as: Int32.self))
                    guard id >= 0, id < classOf.count, classOf[id] >= 0, Int(classOf[id]) < k else {
                        throw .badValue("label id \(id) out of range")
                    }
                    let c = classOf[id]
                    classRows[Int(c)] += 1
                    arrivalClass.append(c)
                    h1 = fmix(h1 ^ UInt64(c))
                    h2 = fmix(h2 ^ (UInt64(c) &* 0x9E37_79B9_7F4A_7C15))
                } else {
                    let v = y.load(fromByteOffset: r * 8, as: Double.self)
                    guard v.isFinite else {
                        throw .badValue("a label is \(sqlSpelling(v)); labels must be finite numbers")
                    }
                    let t = v + 0   // -0 becomes 0
                    arrivalTarget.append(t)
                    h1 = fmix(h1 ^ t.bitPattern)
                    h2 = fmix(h2 ^ (t.bitPattern &* 0x9E37_79B9_7F4A_7C15))
                }
                let row = x + r * d
                for j in 0..<d {
                    let v = row[j]
                    guard !v.isInfinite else {
                        throw .badValue("feature \(j + 1) is \(sqlSpelling(v)); features must be finite numbers or NaN/NULL (missing)",
                                        hint: "Replace Infinity before training; NaN and NULL are taken as missing values.")
                    }
                    let b = canonicalBits(v)
                    h1 = fmix(h1 ^ b) &+ 0x9E37_79B9_7F4A_7C15
                    h2 = fmix(h2 ^ (b &* 0xC2B2_AE3D_27D4_EB4F)) &+ 0x1656_67B1_9E37_79F9
                }
                keys.append(Key(h1: h1, h2: h2, row: Int32(keys.count)))
            }
        }
        let n = keys.count
        guard n > 0 else { throw .unfitData("no rows to train on") }
        if let missing = classRows.firstIndex(of: 0) { throw .badValue("class \(missing + 1) has no rows") }
        if stop() { throw .interrupted }
        keys.sort { $0.h1 != $1.h1 ? $0.h1 < $1.h1 : $0.h2 < $1.h2 }
        var rank = [Int32](repeating: 0, count: n)
        for (pos, key) in keys.enumerated() { rank[Int(key.row)] = Int32(pos) }
        keys = []

        // Pass 2: distinct values (up to maxBins) and a sample per feature.
        let sampleStride = (n + sampleLimit - 1) / sampleLimit
        var distinct = [[Double]](repeating: [], count: d)
        var overflow = [Bool](repeating: false, count: d)
        var sample = [[Double]](repeating: [], count: d)
        var missingCount = [Int](repeating: 0, count: d)
        for j in 0..<d { sample[j].reserveCapacity(min(n, sampleLimit + 1)) }
        var seen = 0
        try blocks.forEachRaw { (x, _, count) throws(ScoreError) in
            if stop() { throw .interrupted }
            for r in 0..<count {
                let sampled = Int(rank[seen + r]) % sampleStride == 0
                let row = x + r * d
                for j in 0..<d {
                    let v = row[j]
                    if v.isNaN {
                        missingCount[j] += 1
                        continue
                    }
                    if sampled { sample[j].append(v) }
                    if !overflow[j] {
                        // sorted insert into the distinct values seen so far
                        var lo = 0, hi = distinct[j].count
                        while lo < hi {
                            let mid = (lo + hi) >> 1
                            if distinct[j][mid] < v { lo = mid + 1 } else { hi = mid }
                        }
                        if lo == distinct[j].count || distinct[j][lo] != v {
                            if distinct[j].count == maxBins {
                                overflow[j] = true
                                distinct[j] = []
                            } else {
                                distinct[j].insert(v, at: lo)
                            }
                        }
                    }
                }
            }
            seen += count
        }
        guard seen == n else { throw .badValue("the rows changed between passes") }

        var thresholds: [[Double]] = []
        var binCount: [Int] = []
        for j in 0..<d {
            var t: [Double] = []
            if !overflow[j] {
                let u = distinct[j]
                if u.count > 1 { for i in 0..<(u.count - 1) { t.append(midpoint(u[i], u[i + 1])) } }
            } else {
                sample[j].sort()
                t = quantileThresholds(sample[j], maxBins: maxBins)
            }
            sample[j] = []
            thresholds.append(t)
            binCount.append(t.count + 1)
        }

        // Pass 3: codes and labels in canonical order.
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: n * d)
        let label = UnsafeMutablePointer<Int32>.allocate(capacity: k > 0 ? n : 1)
        let target = UnsafeMutablePointer<Double>.allocate(capacity: k > 0 ? 1 : n)
        let data = TreeData(n: n, d: d, classCount: k, codes: codes, label: label, target: target,
                            thresholds: thresholds, binCount: binCount, missingCount: missingCount, classRows: classRows)
        if k > 0 {
            for i in 0..<n { label[Int(rank[i])] = arrivalClass[i] }
        } else {
            for i in 0..<n { target[Int(rank[i])] = arrivalTarget[i] }
        }
        arrivalClass = []
        arrivalTarget = []
        seen = 0
        // thresholds flat, each feature's padded to 255 with +∞ (a value never exceeds it)
        let flat = UnsafeMutablePointer<Double>.allocate(capacity: 255 * d)
        defer { flat.deallocate() }
        for j in 0..<d {
            for b in 0..<255 { flat[j * 255 + b] = b < thresholds[j].count ? thresholds[j][b] : .infinity }
        }
        try blocks.forEachRaw { (x, _, count) throws(ScoreError) in
            if stop() { throw .interrupted }
            for r in 0..<count {
                let out = codes + Int(rank[seen + r]) * d
                let row = x + r * d
                for j in 0..<d {
                    let v = row[j]
                    if v.isNaN {
                        out[j] = UInt8(binCount[j])
                        continue
                    }
                    // branch-free binary search over 256 slots: first b with v <= t[b]
                    let t = flat + j * 255
                    var lo = 0
                    var step = 128
                    while step > 0 {
                        let probe = lo + step - 1
                        if probe < 255, t[probe] < v { lo += step }
                        step >>= 1
                    }
                    out[j] = UInt8(lo)
                }
            }
            seen += count
        }
        return data
    }

    /// The bin code of a raw value.
    @inline(__always)
    func code(_ v: Double, feature j: Int) -> Int {
        if v.isNaN { return binCount[j] }
        return thresholds[j].withUnsafeBufferPointer { t in
            var lo = 0, hi = t.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if v <= t[mid] { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
    }

    /// A threshold t with a ≤ t < b, halfway where the floats allow.
    static func midpoint(_ a: Double, _ b: Double) -> Double {
        let t = a / 2 + b / 2
        return t >= a && t < b ? t : a
    }

    /// At most maxBins − 1 increasing thresholds splitting sorted values into bins of
    /// about equal counts; a run of equal values never straddles a threshold.
    static func quantileThresholds(_ s: [Double], maxBins: Int) -> [Double] {
        let m = s.count
        var t: [Double] = []
        guard m > 1 else { return t }
        for q in 1..<maxBins {
            let idx = q * m / maxBins
            if idx == 0 { continue }
            let v = s[idx - 1]
            // first value above v
            var lo = idx, hi = m
            while lo < hi {
                let mid = (lo + hi) >> 1
                if s[mid] <= v { lo = mid + 1 } else { hi = mid }
            }
            if lo == m { break }
            let c = midpoint(v, s[lo])
            if t.isEmpty || c > t[t.count - 1] { t.append(c) }
        }
        return t
    }
}

protocol TreeRowSource {
    func forEachRaw(_ body: (UnsafePointer<Double>, UnsafeRawPointer, Int) throws(ScoreError) -> Void) throws(ScoreError)
}
