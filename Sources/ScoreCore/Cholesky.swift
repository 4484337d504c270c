/// Solves symmetric positive definite systems A x = b (A dense, row-major) by Cholesky,
/// after scaling A to unit diagonal so that the pivot test measures collinearity and
/// not the units the columns happen to be in.
public enum Cholesky {
    public enum Failure: Error, Equatable {
        /// The column whose pivot vanished: it is (nearly) a combination of earlier ones.
        case dependentColumn(Int)
        /// A diagonal element is zero or negative: the column carries no information.
        case emptyColumn(Int)
        /// `stop` asked to end (a query cancel or statement_timeout).
        case interrupted
    }

    /// Returns x. `pivotTolerance` is relative to the unit diagonal (1e-10 ≈ condition 1e10).
    /// `stop` is polled between columns: a system of thousands of unknowns (softmax
    /// regression over many classes) takes seconds.
    public static func solve(_ a: [Double], _ b: [Double], n: Int,
                             pivotTolerance: Double = 1e-10, stop: StopCheck = { false }) throws(Failure) -> [Double] {
        var scale = [Double](repeating: 1, count: n)
        for i in 0..<n {
            let d = a[i * n + i]
            guard d > 0, d.isFinite else { throw .emptyColumn(i) }
            scale[i] = 1 / d.squareRoot()
        }
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i { l[i * n + j] = a[i * n + j] * scale[i] * scale[j] }
        }
        try factorInPlace(&l, n: n, pivotTolerance: pivotTolerance, stop: stop)
        var x = [Double](repeating: 0, count: n)
        for i in 0..<n { x[i] = b[i] * scale[i] }
        substitute(l, n: n, &x)
        for i in 0..<n { x[i] *= scale[i] }
        return x
    }

    /// Lower-triangular factor of the lower triangle of `l` (upper part ignored).
    static func factorInPlace(_ l: inout [Double], n: Int, pivotTolerance: Double,
                              stop: StopCheck) throws(Failure) {
        for j in 0..<n {
            if j & 15 == 0, stop() { throw .interrupted }
            let diagonal = l[j * n + j]
            var s = diagonal
            for p in 0..<j { s -= l[j * n + p] * l[j * n + p] }
            guard s > pivotTolerance * max(diagonal, 1e-300), s.isFinite else { throw .dependentColumn(j) }
            let d = s.squareRoot()
            l[j * n + j] = d
            var i = j + 1
            while i < n {
                var t = l[i * n + j]
                for p in 0..<j { t -= l[i * n + p] * l[j * n + p] }
                l[i * n + j] = t / d
                i += 1
            }
        }
    }

    /// Forward then back substitution with the factor L: solves L Lᵀ x = b in place.
    static func substitute(_ l: [Double], n: Int, _ x: inout [Double]) {
        for i in 0..<n {
            var t = x[i]
            for p in 0..<i { t -= l[i * n + p] * x[p] }
            x[i] = t / l[i * n + i]
        }
        var i = n - 1
        while i >= 0 {
            var t = x[i]
            var p = i + 1
            while p < n {
                t -= l[p * n + i] * x[p]
                p += 1
            }
            x[i] = t / l[i * n + i]
            i -= 1
        }
    }
}
