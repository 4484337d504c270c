/// Running first and second moments of vectors, kept relative to a shift (the first
/// vector seen) so that large means do not cancel the variance away (the "shifted
/// data" algorithm). Mergeable, so partial states from parallel workers combine exactly.
///
/// The state is a flat buffer of doubles that the host owns (PostgreSQL allocates it
/// in the aggregate's memory context):
///   [n, shift(m), s1(m), s2]   s2 = upper triangle packed row-major (full) or the diagonal.
public struct MomentsLayout: Sendable {
    public let dim: Int
    public let full: Bool

    public init(dim: Int, full: Bool) {
        self.dim = dim
        self.full = full
    }

    public var s2Count: Int { full ? dim * (dim + 1) / 2 : dim }
    public var count: Int { 1 + 2 * dim + s2Count }

    @inline(__always) func shift(_ p: UnsafeMutablePointer<Double>) -> UnsafeMutablePointer<Double> { p + 1 }
    @inline(__always) func s1(_ p: UnsafeMutablePointer<Double>) -> UnsafeMutablePointer<Double> { p + 1 + dim }
    @inline(__always) func s2(_ p: UnsafeMutablePointer<Double>) -> UnsafeMutablePointer<Double> { p + 1 + 2 * dim }

    /// Adds one vector z = (x[0..<dim-1 or dim], tail?) — `tail` appends a last element
    /// (the label of a regression) without the caller having to copy the row.
    @inline(__always)
    public func add(_ p: UnsafeMutablePointer<Double>, x: UnsafePointer<Double>, tail: Double?) {
        let m = dim
        let n = p[0]
        let sh = shift(p), a = s1(p), b = s2(p)
        if n == 0 {
            for i in 0..<(tail == nil ? m : m - 1) { sh[i] = x[i] }
            if let tail { sh[m - 1] = tail }
            p[0] = 1
            return   // deviations of the first vector from itself are zero
        }
        p[0] = n + 1
        withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { dz in
            let xs = tail == nil ? m : m - 1
            for i in 0..<xs { dz[i] = x[i] - sh[i] }
            if let tail { dz[m - 1] = tail - sh[m - 1] }
            for i in 0..<m { a[i] += dz[i] }
            if full {
                var k = 0
                for i in 0..<m {
                    let di = dz[i]
                    for j in i..<m {
                        b[k] += di * dz[j]
                        k += 1
                    }
                }
            } else {
                for i in 0..<m { b[i] += dz[i] * dz[i] }
            }
        }
    }

    /// a += b, re-expressing b's sums relative to a's shift.
    public func merge(into a: UnsafeMutablePointer<Double>, from b: UnsafePointer<Double>) {
        let m = dim
        let nb = b[0]
        if nb == 0 { return }
        if a[0] == 0 {
            for i in 0..<count { a[i] = b[i] }
            return
        }
        let bp = UnsafeMutablePointer(mutating: b)
        let shA = shift(a), shB = shift(bp), s1A = s1(a), s1B = s1(bp), s2A = s2(a), s2B = s2(bp)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { d in
            for i in 0..<m { d[i] = shB[i] - shA[i] }
            if full {
                var k = 0
                for i in 0..<m {
                    for j in i..<m {
                        s2A[k] += s2B[k] + d[i] * s1B[j] + s1B[i] * d[j] + nb * d[i] * d[j]
                        k += 1
                    }
                }
            } else {
                for i in 0..<m { s2A[i] += s2B[i] + 2 * d[i] * s1B[i] + nb * d[i] * d[i] }
            }
            for i in 0..<m { s1A[i] += s1B[i] + nb * d[i] }
        }
        a[0] += nb
    }

    /// Means and centered co-moments (sums of products of deviations from the mean).
    public func centered(_ p: UnsafePointer<Double>) -> CenteredMoments {
        let m = dim
        let pp = UnsafeMutablePointer(mutating: p)
        let n = p[0]
        let sh = shift(pp), a = s1(pp), b = s2(pp)
        var mean = [Double](repeating: 0, count: m)
        guard n > 0 else { return CenteredMoments(count: 0, mean: mean, squares: mean, dense: full ? [Double](repeating: 0, count: m * m) : nil) }
        for i in 0..<m { mean[i] = sh[i] + a[i] / n }
        // A sum of squares cannot be negative; tiny negatives are rounding.
        let squares = (0..<m).map { i in max(0, b[full ? i * m - i * (i - 1) / 2 : i] - a[i] * a[i] / n) }
        guard full else { return CenteredMoments(count: Int(n), mean: mean, squares: squares, dense: nil) }
        var co = [Double](repeating: 0, count: m * m)
        var k = 0
        for i in 0..<m {
            for j in i..<m {
                let v = i == j ? squares[i] : b[k] - a[i] * a[j] / n
                co[i * m + j] = v
                co[j * m + i] = v
                k += 1
            }
        }
        return CenteredMoments(count: Int(n), mean: mean, squares: squares, dense: co)
    }
}

/// n, mean, and the centered co-moments: the diagonal (sums of squared deviations)
/// always, the dense m×m matrix only for a full layout -- a diagonal layout (naive
/// Bayes, one per class) must not cost m² doubles per class.
public struct CenteredMoments: Sendable {
    public let count: Int
    public let mean: [Double]
    /// centered sum of squares of each component
    public let squares: [Double]
    let dense: [Double]?

    public init(count: Int, mean: [Double], squares: [Double], dense: [Double]?) {
        self.count = count
        self.mean = mean
        self.squares = squares
        self.dense = dense
    }

    public init(count: Int, mean: [Double], comoment: [Double]) {
        let m = mean.count
        self.init(count: count, mean: mean, squares: (0..<m).map { comoment[$0 * m + $0] }, dense: comoment)
    }

    /// The dense m×m matrix (zeros off the diagonal for a diagonal layout).
    public var comoment: [Double] {
        if let dense { return dense }
        let m = mean.count
        var co = [Double](repeating: 0, count: m * m)
        for i in 0..<m { co[i * m + i] = squares[i] }
        return co
    }

    public func variance(_ i: Int) -> Double {
        count > 0 ? squares[i] / Double(count) : 0
    }
}
