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
        let problem = try standardise(layout.centered(buffer), classCounts: classCounts, classOf: classOf,
                                      classCount: k, options: options)
        var search = NewtonSearch(parameters: problem.p, options: options)
        var theta = search.start()
        while true {
            let e = try evaluate(problem, theta, rows: rows, stop: stop)
            switch try search.feed(e, l2: problem.l2, stop: stop) {
            case let .evaluate(next): theta = next
            case let .done(solution, loss): return try parameters(problem, solution, loss: loss)
            }
        }
    }

    /// What the first pass decides: per-feature centre and spread (internal standardisation,
    /// for conditioning), which features are constant, and the checks that need the counts.
    static func standardise(_ stats: CenteredMoments, classCounts: [Int], classOf: [Int32], classCount k: Int,
                            options: TrainingOptions) throws(ScoreError) -> Problem {
        let d = stats.mean.count
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
        guard problem.p <= maxParameters else {
            throw .limit("logistic regression with \(k) classes and \(d) features has \(problem.p) parameters; the limit is \(maxParameters)",
                         hint: "Use fewer features or classes, or naive Bayes.")
        }
        return problem
    }

    /// The solution in original units, after the checks only the optimum can answer.
    static func parameters(_ problem: Problem, _ theta: [Double], loss: Double) throws(ScoreError) -> Parameters {
        let d = problem.d, n = problem.n
        if problem.l2 == 0 {
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
            var b = problem.intercept ? theta[r * problem.q + d] : 0
            for j in 0..<d where problem.active[j] {
                w[j] = theta[r * problem.q + j] / problem.scale[j]
                b -= w[j] * problem.center[j]
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

    /// Newton's method with a backtracking line search, as a state machine fed one
    /// evaluation (loss, gradient, Hessian) at a time: the in-memory fit evaluates over its
    /// rows in a loop, the pass fit (LogisticPasses) runs one aggregate pass per evaluation
    /// and keeps this between passes. Both take the same steps, so they reach the same
    /// coefficients.
    struct NewtonSearch {
        enum Next { case evaluate([Double]), done([Double], loss: Double) }
        enum Mode: UInt8 { case start = 0, search = 1 }

        var mode = Mode.start
        var theta: [Double]
        var step: [Double]
        var loss = 0.0          // at theta
        var decrease = 0.0      // gradient · step at theta
        var t = 1.0
        var iteration = 0
        let maxIterations: Int
        let tolerance: Double

        init(parameters p: Int, options: TrainingOptions) {
            theta = [Double](repeating: 0, count: p)
            step = theta
            maxIterations = options.maxIterations
            tolerance = options.tolerance
        }

        init(mode: Mode, theta: [Double], step: [Double], loss: Double, decrease: Double, t: Double,
             iteration: Int, maxIterations: Int, tolerance: Double) {
            self.mode = mode
            self.theta = theta
            self.step = step
            self.loss = loss
            self.decrease = decrease
            self.t = t
            self.iteration = iteration
            self.maxIterations = maxIterations
            self.tolerance = tolerance
        }

        /// Where to evaluate first.
        func start() -> [Double] { theta }

        /// Where the next evaluation is wanted (what `feed` expects next).
        var point: [Double] {
            mode == .start ? theta : (0..<theta.count).map { theta[$0] - t * step[$0] }
        }

        /// Takes the evaluation at `point`; says where to evaluate next, or the solution.
        mutating func feed(_ e: Evaluation, l2: Double, stop: StopCheck) throws(ScoreError) -> Next {
            if mode == .search {
                let rounding = 1e-13 * max(1, abs(loss))
                guard e.loss <= loss - 1e-4 * t * decrease + rounding || t < 1e-12 else {
                    t *= 0.5
                    return .evaluate(point)
                }
                theta = point
                iteration += 1
                if theta.contains(where: { abs($0) > 1e9 }) { throw failure(l2: l2) }
            }
            guard iteration < maxIterations else { throw failure(l2: l2) }
            let p = theta.count
            step = try newtonStep(e, p: p, stop: stop)
            loss = e.loss
            decrease = 0
            for i in 0..<p { decrease += e.gradient[i] * step[i] }
            let largest = theta.reduce(0) { max($0, abs($1)) }
            let move = step.reduce(0) { max($0, abs($1)) }
            // Converged: the step is tiny, or what is left to gain is below rounding.
            if move <= tolerance * max(1, largest) || decrease <= 1e-15 * max(1, abs(e.loss)) {
                return .done((0..<p).map { theta[$0] - step[$0] }, loss: e.loss)
            }
            mode = .search
            t = 1
            return .evaluate(point)
        }

        func failure(l2: Double) -> ScoreError {
            if l2 == 0 {
                return .unfitData("the classes are perfectly separable, so the unpenalised coefficients grow without bound",
                                  hint: "Add a penalty, e.g. '{\"l2\": 1}'.")
            }
            return .unfitData("logistic regression did not converge in \(maxIterations) iterations",
                              hint: "Raise max_iter, raise l2, or rescale the features.")
        }
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
        var sums = [Double](repeating: 0, count: Accumulator.sumCount(parameters: pr.p))
        var acc = Accumulator(pr, theta)
        try typed { try sums.withUnsafeMutableBufferPointer { s in
            try rows.forEachBlock { (x, labels, count) throws(ScoreError) in
                if stop() { throw .interrupted }
                try acc.add(x, labels, count, into: s.baseAddress!, stop: stop)
            }
        } }
        return finish(pr, theta, sums)
    }

    /// The per-row part of an evaluation: loss, gradient and the Hessian's upper triangle
    /// summed into a flat buffer [loss, gradient(p), Hessian(p × p)] that the host may own
    /// (the pass fit keeps it in PostgreSQL's aggregate state) and that adds up across
    /// blocks and parallel workers.
    struct Accumulator {
        let pr: Problem
        let theta: [Double]
        var u: [Double], z: [Double], prob: [Double], invScale: [Double]

        static func sumCount(parameters p: Int) -> Int { 1 + p + p * p }

        init(_ pr: Problem, _ theta: [Double]) {
            self.pr = pr
            self.theta = theta
            u = [Double](repeating: 0, count: pr.q)
            z = [Double](repeating: 0, count: pr.r)
            prob = [Double](repeating: 0, count: pr.k)
            invScale = (0..<pr.d).map { pr.active[$0] ? 1 / pr.scale[$0] : 0 }
            if pr.intercept { u[pr.d] = 1 }
        }

        /// Adds `count` rows; labels are host ids, mapped through `pr.classOf`.
        mutating func add(_ x: UnsafePointer<Double>, _ labels: UnsafePointer<Int32>, _ count: Int,
                          into sums: UnsafeMutablePointer<Double>, stop: StopCheck) throws(ScoreError) {
            let d = pr.d, q = pr.q, p = pr.p, r = pr.r, k = pr.k
            let g = sums + 1, h = sums + 1 + p
            var loss = sums[0]
            defer { sums[0] = loss }
            for row in 0..<count {
                // a softmax row costs k² work: with hundreds of classes a block
                // of rows takes seconds, so poll within it too
                if k > 2, row & 15 == 15, stop() { throw .interrupted }
                let xr = x + row * d
                for j in 0..<d { u[j] = (xr[j] - pr.center[j]) * invScale[j] }
                let id = Int(labels[row])
                guard id >= 0, id < pr.classOf.count else { throw .badValue("label id \(id) out of range") }
                let y = Int(pr.classOf[id])
                guard y >= 0, y < k else { throw .badValue("label id \(id) out of range") }
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

    /// An evaluation from summed rows: adds the penalty (and the softmax pin) and mirrors
    /// the Hessian's upper triangle.
    static func finish(_ pr: Problem, _ theta: [Double], _ sums: [Double]) -> Evaluation {
        let p = pr.p, q = pr.q, r = pr.r, k = pr.k
        var e = Evaluation(gradient: Array(sums[1..<(1 + p)]), hessian: Array(sums[(1 + p)...]))
        var loss = sums[0]
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
