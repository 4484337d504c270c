#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Prediction: Equatable, Sendable {
    case value(Double)
    case classIndex(Int)
}

/// A model laid out for scoring: flat parameter buffers, constants precomputed once, so
/// that a prediction is one validated pass over the features with no allocation.
public final class Scorer: @unchecked Sendable {
    public let model: Model
    public let featureCount: Int
    public let classCount: Int
    /// Score rows × features (linear: 1 row; logistic: 1 or K; naive Bayes: K means).
    let weights: UnsafeMutableBufferPointer<Double>
    /// Per row: intercept (linear/logistic) or log prior − ½ Σ log 2πσ² (naive Bayes).
    let offsets: UnsafeMutableBufferPointer<Double>
    /// Naive Bayes only: 1/σ² per class and feature.
    let inverseVariances: UnsafeMutableBufferPointer<Double>
    let rowCount: Int
    /// Tree models.
    let forest: CompiledTrees?

    public init(_ model: Model) {
        self.model = model
        let d = model.featureCount
        featureCount = d
        classCount = model.classes.count
        var w: [Double] = []
        var o: [Double] = []
        var iv: [Double] = []
        var forest: CompiledTrees?
        switch model.parameters {
        case let .linear(intercept, coefficients):
            w = coefficients
            o = [intercept]
        case let .logistic(intercepts, coefficients):
            w = coefficients.flatMap { $0 }
            o = intercepts
        case let .naiveBayes(prior, means, variances):
            w = means.flatMap { $0 }
            for (c, vars) in variances.enumerated() {
                var term = log(prior[c])
                for v in vars {
                    term -= 0.5 * log(2 * Double.pi * v)
                    iv.append(1 / v)
                }
                o.append(term)
            }
        case let .trees(ensemble):
            forest = CompiledTrees(ensemble, featureCount: d, classCount: model.classes.count)
        }
        self.forest = forest
        rowCount = o.count
        weights = Scorer.copy(w)
        offsets = Scorer.copy(o)
        inverseVariances = Scorer.copy(iv)
    }

    deinit {
        weights.deallocate()
        offsets.deallocate()
        inverseVariances.deallocate()
    }

    static func copy(_ a: [Double]) -> UnsafeMutableBufferPointer<Double> {
        let b = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(a.count, 1))
        _ = b.initialize(from: a)
        return b
    }

    func check(_ x: UnsafePointer<Double>, _ n: Int) throws(ScoreError) {
        guard n == featureCount else {
            throw .badShape("the model expects \(featureCount) features, got \(n)",
                            hint: "Pass the features in the order and number used for training.")
        }
        for j in 0..<n where !x[j].isFinite {
            throw .badValue("feature \(j + 1) is \(sqlSpelling(x[j])); features must be finite numbers")
        }
    }

    /// Row scores: linear predictors, or naive Bayes joint log-likelihoods.
    @inline(__always)
    func score(_ x: UnsafePointer<Double>, row c: Int) -> Double {
        let d = featureCount
        let w = weights.baseAddress! + c * d
        var s = offsets[c]
        if model.algorithm == .naiveBayes {
            let iv = inverseVariances.baseAddress! + c * d
            var q = 0.0
            for j in 0..<d {
                let dx = x[j] - w[j]
                q += dx * dx * iv[j]
            }
            return s - 0.5 * q
        }
        for j in 0..<d { s += w[j] * x[j] }
        return s
    }

    /// The features are valid but the model's scores are not finite numbers.
    static func overflow() -> ScoreError {
        .outOfRange("the model's score for these features is not a finite number")
    }

    public func predict(_ x: UnsafePointer<Double>, count n: Int) throws(ScoreError) -> Prediction {
        if let forest { return try forest.predict(x, count: n) }
        guard n == featureCount else { try check(x, n); return .value(.nan) }
        // NaN or ±Infinity in x makes a score non-finite, so finite scores need no
        // separate pass over the features: check only when a score is not finite.
        switch model.algorithm {
        case .linearRegression:
            let s = score(x, row: 0)
            if !s.isFinite { try check(x, n); throw Scorer.overflow() }
            return .value(s)
        case .logisticRegression where rowCount == 1:
            let s = score(x, row: 0)
            if !s.isFinite { try check(x, n) }
            if s.isNaN { throw Scorer.overflow() }
            return .classIndex(s > 0 ? 1 : 0)
        default:
            var best = 0
            var top = score(x, row: 0)
            var finite = top.isFinite
            for c in 1..<rowCount {
                let s = score(x, row: c)
                finite = finite && s.isFinite
                if s > top { top = s; best = c }
            }
            if !finite { try check(x, n); throw Scorer.overflow() }
            return .classIndex(best)
        }
    }

    /// Writes one probability per class into `out` (class order).
    public func probabilities(_ x: UnsafePointer<Double>, count n: Int,
                              into out: UnsafeMutablePointer<Double>) throws(ScoreError) {
        guard model.isClassifier else {
            throw .badValue("predict_proba needs a classifier; this is a \(model.algorithm.name) model\(model.algorithm.isTree ? " for regression" : "")",
                            hint: "Use ml.predict for regression models.")
        }
        _ = try classScores(x, count: n, into: out)
    }

    /// One pass for a classifier: the probabilities (written to `out`, class order) and
    /// the class ml.predict answers (returned). Shared by predict_proba and ml.metrics.
    func classScores(_ x: UnsafePointer<Double>, count n: Int,
                     into out: UnsafeMutablePointer<Double>) throws(ScoreError) -> Int {
        if let forest {
            try forest.check(x, n)
            return try forest.classify(x, into: out)
        }
        try check(x, n)
        if rowCount == 1 {
            let s = score(x, row: 0)
            if s.isNaN { throw Scorer.overflow() }
            let p1 = s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s))
            out[0] = 1 - p1
            out[1] = p1
            return s > 0 ? 1 : 0
        }
        var best = 0
        var top = -Double.infinity
        for c in 0..<rowCount {
            let s = score(x, row: c)
            guard s.isFinite else { throw Scorer.overflow() }
            out[c] = s
            if c > 0, s > out[best] { best = c }
            top = max(top, s)
        }
        Scorer.softmax(out, count: rowCount, top: top)
        return best
    }

    /// Scores (finite, `top` the largest) to probabilities in place. Divides by the sum
    /// instead of subtracting log(sum) from top: with scores near 1e308, top + log(sum)
    /// rounds back to top and tied classes would each get probability 1.
    static func softmax(_ out: UnsafeMutablePointer<Double>, count: Int, top: Double) {
        var sum = 0.0
        for c in 0..<count {
            out[c] = exp(out[c] - top)
            sum += out[c]
        }
        for c in 0..<count { out[c] /= sum }
    }
}
