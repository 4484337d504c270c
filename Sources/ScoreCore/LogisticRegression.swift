#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// L2-regularised logistic regression (binary: sigmoid; K > 2 classes: softmax), fitted
/// by Newton's method with a backtracking line search, one pass over the rows per step.
/// It minimises Σ loss + (l2/2)·‖w‖² with the intercept unpenalised: scikit-learn's
/// LogisticRegression with C = 1/l2, converged to machine precision instead of a tolerance.
public enum LogisticRegression {
    /// Largest Hessian side we accept (classes × (features + 1)); 2000² doubles = 32 MB.
    public static let maxParameters = 2000

    /// - Parameters:
    ///   - classOf: host label id → class index (classes sorted), for ids 0..<classOf.count.
    ///   - classCount: number of classes K (≥ 2).
    public static func fit(rows: some RowBlocks, classOf: [Int32], classCount k: Int,
                           options: TrainingOptions, stop: StopCheck) throws(ScoreError) -> Parameters {
        let d = rows.featureCount
        guard k >= 2 else {
            throw .unfitData("the labels hold only one class; a classifier needs at least two",
                             hint: "Check the label column and the WHERE clause.")
        }
        // Pass 1: per-feature mean and spread, to standardise internally (conditioning).
        let layout = MomentsLayout(dim: d, full: false)
        var buffer = [Double](repeating: 0, count: layout.count)
        var classCounts = [Int](repeating: 0, count: k)
        try typed { try buffer.withUnsafeMutableBufferPointer { (acc: inout UnsafeMutableBufferPointer<Double>) in
            let p = acc.baseAddress!
            try rows.forEachBlock { (x, labels, count) throws(ScoreError) in
                if stop() { throw .interrupted }
                for r in 0..<count {
                    let id = Int(labels[r])
                    guard id >= 0, id < classOf.count, Int(classOf[id]) < k, classOf[id] >= 0 else {
                        throw .badValue("label id \(id) out of range")
                    }
                    classCounts[Int(classOf[id])] += 1
                    let row = x + r * d
                    for j in 0..<d where !row[j].isFinite {
                        throw .badValue("feature \(j + 1) is \(sqlSpelling(row[j])); features must be finite numbers")
                    }
                    layout.add(p, x: row, tail: nil)
                }
            }
        } }
        let stats = layout.centered(buffer)
        let n = stats.count
        guard n > 0 else { throw .unfitData("no rows to train on") }
        if let missing = classCounts.firstIndex(of: 0) { throw .badValue("class \(missing + 1) has no rows") }
        let l2 = options.l2
        let needed = options.intercept ? d + 1 : d
        if l2 == 0, n < needed {
            throw .unfitData("logistic regression with \(d) features needs at least \(needed) rows without a penalty, got \(n)",
                             hint: "Add rows, drop features, or keep the default penalty (l2 = 1).")
        }
        var center = [Double](repeating: 0, count: d)
        var scale = [Double](repeating: 1, count: d)
        var active = [Bool](repeating: true, count: d)
        for j in 0..<d {
            let variance = stats.variance(j)
            let spread = options.intercept ? variance.squareRoot()
                                           : (variance + stats.mean[j] * stats.mean[j]).squareRoot()
            if options.intercept { center[j] = stats.mean[j] }
            if spread > 0, spread.isFinite {
                scale[j] = spread
            } else {
                guard l2 > 0 else {
                    throw .unfitData("feature \(j + 1) is constant\(options.intercept ? "" : " zero"), so its coefficient is undetermined",
                                     hint: "Drop the column, or add a penalty, e.g. '{\"l2\": 1}'.")
                }
                active[j] = false   // the penalty holds its weight at 0
            }
        }
        let problem = Problem(d: d, k: k, intercept: options.intercept, center: center, scale: scale,
                              active: active, classOf: classOf, l2: l2, n: n)
        let (theta, loss) = try newton(problem, rows: rows, options: options, stop: stop)
        if l2 == 0 {
            // Without a penalty, separable classes have no finite optimum: Newton drives the
            // loss to ~0 with weights that keep growing (in standardised units a weight of
            // 100 turns one standard deviation into odds of e^100).
            let largest = (0..<problem.r).flatMap { r in (0..<d).map { abs(theta[r * problem.q + $0]) } }.max() ?? 0
            if loss <= 1e-9 * Double(n) || largest > 100 {
                throw .unfitData("the classes are (nearly) perfectly separable, so the unpenalised coefficients grow without bound",
                                 hint: "Add a penalty, e.g. '{\"l2\": 1}'.")
            }
        }

        // Back from standardised to original units.
        var intercepts: [Double] = []
        var coefficients: [[Double]] = []
        for r in 0..<problem.r {
            var w = [Double](repeating: 0, count: d)
            var b = options.intercept ? theta[r * problem.q + d] : 0
            for j in 0..<d where active[j] {
                w[j] = theta[r * problem.q + j] / scale[j]
                b -= w[j] * center[j]
            }
            intercepts.append(b)
            coefficients.append(w)
        }
        guard intercepts.allSatisfy(\.isFinite), coefficients.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw .unfitData("the solution is not finite", hint: "Rescale the features or raise l2.")
        }
        return .logistic(intercepts: intercepts, coefficients: coefficients)
    }

    struct Problem {
        let d: Int, k: Int, intercept: Bool
        let center: [Double], scale: [Double], active: [Bool], classOf: [Int32]
        let l2: Double, n: Int
        /// Score rows: one for two classes, K for more.
        var r: Int { k == 2 ? 1 : k }
        /// Parameters per score row.
        var q: Int { d + (intercept ? 1 : 0) }
        var p: Int { r * q }
        /// Penalty per parameter slot in standardised units.
        func penalty(_ j: Int) -> Double {
            if j == d { return 0 }
            return active[j] ? l2 / (scale[j] * scale[j]) : max(l2, 1)
        }
    }

    struct Evaluation {
        var loss = 0.0
        var gradient: [Double]
        var hessian: [Double]
    }

    /// Returns the parameters and the objective there.
    static func newton(_ pr: Problem, rows: some RowBlocks, options: TrainingOptions,
                       stop: StopCheck) throws(ScoreError) -> ([Double], Double) {
        let p = pr.p
        guard p <= maxParameters else {
            throw .limit("logistic regression with \(pr.k) classes and \(pr.d) features has \(p) parameters; the limit is \(maxParameters)",
                         hint: "Use fewer features or classes, or naive Bayes.")
        }
        var theta = [Double](repeating: 0, count: p)
        var current = try evaluate(pr, theta, rows: rows, stop: stop)
        for _ in 0..<options.maxIterations {
            let step = try newtonStep(current, p: p, stop: stop)
            var decrease = 0.0
            for i in 0..<p { decrease += current.gradient[i] * step[i] }
            let largest = theta.reduce(0) { max($0, abs($1)) }
            let move = step.reduce(0) { max($0, abs($1)) }
            // Converged: the step is tiny, or what is left to gain is below rounding.
            if move <= options.tolerance * max(1, largest) || decrease <= 1e-15 * max(1, abs(current.loss)) {
                for i in 0..<p { theta[i] -= step[i] }
                return (theta, current.loss)
            }
            var t = 1.0
            while true {
                var trial = theta
                for i in 0..<p { trial[i] -= t * step[i] }
                let next = try evaluate(pr, trial, rows: rows, stop: stop)
                let rounding = 1e-13 * max(1, abs(current.loss))
                if next.loss <= current.loss - 1e-4 * t * decrease + rounding || t < 1e-12 {
                    theta = trial
                    current = next
                    break
                }
                t *= 0.5
            }
            if theta.contains(where: { abs($0) > 1e9 }) { break }
        }
        if pr.l2 == 0 {
            throw .unfitData("the classes are perfectly separable, so the unpenalised coefficients grow without bound",
                             hint: "Add a penalty, e.g. '{\"l2\": 1}'.")
        }
        throw .unfitData("logistic regression did not converge in \(options.maxIterations) iterations",
                         hint: "Raise max_iter, raise l2, or rescale the features.")
    }

    /// Solves H·step = g; adds a growing ridge if H is numerically not positive definite.
    static func newtonStep(_ e: Evaluation, p: Int, stop: StopCheck) throws(ScoreError) -> [Double] {
        var damping = 0.0
        for _ in 0..<30 {
            var h = e.hessian
            if damping > 0 { for i in 0..<p { h[i * p + i] *= 1 + damping } }
            do {
                return try Cholesky.solve(h, e.gradient, n: p, pivotTolerance: 1e-15, stop: stop)
            } catch {
                if error == .interrupted { throw .interrupted }
            }
            damping = damping == 0 ? 1e-10 : damping * 10
        }
        throw .unfitData("the Hessian is singular; the features may be collinear", hint: "Raise l2 or drop columns.")
    }

    static func evaluate(_ pr: Problem, _ theta: [Double], rows: some RowBlocks,
                         stop: StopCheck) throws(ScoreError) -> Evaluation {
        let d = pr.d, q = pr.q, p = pr.p, r = pr.r, k = pr.k
        var e = Evaluation(gradient: [Double](repeating: 0, count: p),
                           hessian: [Double](repeating: 0, count: p * p))
        var u = [Double](repeating: 0, count: q)
        var z = [Double](repeating: 0, count: r)
        var prob = [Double](repeating: 0, count: k)
        var invScale = [Double](repeating: 0, count: d)
        for j in 0..<d { invScale[j] = pr.active[j] ? 1 / pr.scale[j] : 0 }
        if pr.intercept { u[d] = 1 }
        var loss = 0.0
        try typed { try e.gradient.withUnsafeMutableBufferPointer { g in
            try e.hessian.withUnsafeMutableBufferPointer { h in
                try rows.forEachBlock { (x, labels, count) throws(ScoreError) in
                    if stop() { throw .interrupted }
                    for row in 0..<count {
                        // a softmax row costs k² work: with hundreds of classes a block
                        // of rows takes seconds, so poll within it too
                        if k > 2, row & 15 == 15, stop() { throw .interrupted }
                        let xr = x + row * d
                        for j in 0..<d { u[j] = (xr[j] - pr.center[j]) * invScale[j] }
                        let y = Int(pr.classOf[Int(labels[row])])
                        if r == 1 {
                            var s = 0.0
                            for j in 0..<q { s += theta[j] * u[j] }
                            let target = y == 1 ? 1.0 : 0.0
                            loss += (s > 0 ? s + log1p(exp(-s)) : log1p(exp(s))) - target * s
                            let pr1 = s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s))
                            let resid = pr1 - target
                            let w = pr1 * (1 - pr1)
                            for i in 0..<q {
                                g[i] += resid * u[i]
                                let wu = w * u[i]
                                let hrow = i * p
                                for j in i..<q { h[hrow + j] += wu * u[j] }
                            }
                        } else {
                            var top = -Double.infinity
                            for c in 0..<k {
                                var s = 0.0
                                for j in 0..<q { s += theta[c * q + j] * u[j] }
                                z[c] = s
                                top = max(top, s)
                            }
                            var sum = 0.0
                            for c in 0..<k { sum += exp(z[c] - top) }
                            let lse = top + log(sum)
                            loss += lse - z[y]
                            for c in 0..<k { prob[c] = exp(z[c] - lse) }
                            for c in 0..<k {
                                let resid = prob[c] - (c == y ? 1 : 0)
                                for j in 0..<q { g[c * q + j] += resid * u[j] }
                                for l in c..<k {
                                    let w = c == l ? prob[c] * (1 - prob[c]) : -prob[c] * prob[l]
                                    if w == 0 { continue }
                                    for i in 0..<q {
                                        let wu = w * u[i]
                                        let hrow = (c * q + i) * p + l * q
                                        for j in (c == l ? i : 0)..<q { h[hrow + j] += wu * u[j] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
        // Penalty; and for softmax a pin on the direction that adds the same vector to
        // every class (the model does not change along it): it keeps Σ_k θ_k = 0, which
        // the penalty implies for the weights and scikit-learn's solution has for the
        // intercepts.
        for c in 0..<r {
            for j in 0..<q {
                let i = c * q + j
                let lam = pr.penalty(j)
                loss += 0.5 * lam * theta[i] * theta[i]
                e.gradient[i] += lam * theta[i]
                e.hessian[i * p + i] += lam
            }
        }
        if r > 1 {
            let pin = 0.25 * Double(pr.n) / Double(k)
            for j in 0..<q {
                var total = 0.0
                for c in 0..<k { total += theta[c * q + j] }
                loss += 0.5 * pin * total * total
                for c in 0..<k {
                    e.gradient[c * q + j] += pin * total
                    for l in c..<k { e.hessian[(c * q + j) * p + l * q + j] += pin }
                }
            }
        }
        // Mirror the upper triangle.
        for i in 0..<p {
            for j in 0..<i { e.hessian[i * p + j] = e.hessian[j * p + i] }
        }
        e.loss = loss
        return e
    }
}
