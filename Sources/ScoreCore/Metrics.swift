#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Evaluation metrics of a model on labelled rows, as scikit-learn computes them:
//
//  * classification: accuracy, precision / recall / F1 (two classes: of the second
//    class, pos_label = classes[1]; more classes: macro averages), per-class arrays,
//    ROC AUC (two classes: exact Mann–Whitney statistic, ties counted half, =
//    roc_auc_score; more: macro one-vs-rest), log loss (probabilities clipped to
//    [ε, 1 − ε], ε = 2⁻⁵², natural log, mean), the confusion matrix and the ROC
//    curves (ROCCurve: roc_curve's points, of the same class or classes as the AUC).
//  * regression: R², mean absolute error, root mean squared error.
//
// A metric that is undefined on the rows (0/0) is nil, JSON null, never NaN: the
// precision of a class never predicted, the recall of a class absent from the truth
// (scikit-learn's zero_division=np.nan; macro averages skip such classes), ROC AUC
// when a class has no positive or no negative row (one-vs-rest: any class), R² when
// the truth is constant or there is a single row (where scikit-learn's r2_score says
// 1.0 or 0.0 with its default force_finite=True, or NaN with force_finite=False).

// MARK: - scoring a row for evaluation

extension Scorer {
    /// One scoring pass giving both what ml.predict answers (the returned class index)
    /// and what ml.predict_proba answers (written to `out`, one value per class).
    /// Mirrors predict() and probabilities() exactly (tests compare them bit for bit).
    public func classify(_ x: UnsafePointer<Double>, count n: Int,
                         probabilities out: UnsafeMutablePointer<Double>) throws(ScoreError) -> Int {
        guard model.isClassifier else {
            throw .badValue("class metrics need a classifier; this is a \(model.algorithm.name) model",
                            hint: "Pass a float8 label to evaluate a regression model.")
        }
        return try classScores(x, count: n, into: out)
    }
}

// MARK: - classification

/// Evaluated rows the host keeps in blocks: per row the true class index (0-based,
/// class order) and `classCount` probabilities (row-major).
public protocol EvaluationRows {
    var classCount: Int { get }
    /// Calls `body(truth, probabilities, rowCount)` for every block.
    func forEachBlock(_ body: (UnsafePointer<Int32>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError)
}

/// Evaluated rows held in Swift arrays (tests, small in-core uses).
public struct ArrayEvaluationRows: EvaluationRows {
    public let classCount: Int
    public var truth: [Int32]
    public var probabilities: [Double]
    public var blockSize: Int

    public init(classCount: Int, truth: [Int32], probabilities: [Double], blockSize: Int = 4096) {
        self.classCount = classCount
        self.truth = truth
        self.probabilities = probabilities
        self.blockSize = max(1, blockSize)
    }

    public func forEachBlock(_ body: (UnsafePointer<Int32>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        let n = truth.count, k = classCount
        guard probabilities.count == n * k else {
            throw .badShape("\(probabilities.count) probabilities for \(n) rows of \(k) classes")
        }
        var start = 0
        while start < n {
            let count = min(blockSize, n - start)
            let result: ScoreError? = truth.withUnsafeBufferPointer { t in
                probabilities.withUnsafeBufferPointer { p in
                    do throws(ScoreError) {
                        try body(t.baseAddress! + start, p.baseAddress! + start * k, count)
                        return nil
                    } catch { return error }
                }
            }
            if let result { throw result }
            start += count
        }
    }
}

public struct ClassificationMetrics: Equatable, Sendable {
    public var rows: Int
    /// confusion[truth][predicted], class order.
    public var confusion: [[Int]]
    public var accuracy: Double
    /// Two classes: of the second class; more: macro averages over the defined classes.
    public var precision: Double?
    public var recall: Double?
    public var f1: Double?
    public var perClassPrecision: [Double?]
    public var perClassRecall: [Double?]
    public var perClassF1: [Double?]
    /// Rows whose truth is each class.
    public var support: [Int]
    public var rocAUC: Double?
    /// nil without probabilities (init(confusion:classCount:)).
    public var logLoss: Double?
    /// The ROC curves: of class 1 (two classes), of each class against the rest (more);
    /// none for a class with no positive or no negative row, or without probabilities.
    public var rocCurves: [ROCCurve] = []

    public var classCount: Int { confusion.count }
    public var isBinary: Bool { classCount == 2 }

    /// `confusion` is k × k, flat, row = truth (the host counts it while scoring, with
    /// the class ml.predict answers); `rows` gives the truth and probabilities for the
    /// ranking and probability metrics. `stop` is polled between blocks and classes.
    public init(confusion flat: [Int], rows: some EvaluationRows,
                stop: StopCheck = { false }) throws(ScoreError) {
        try self.init(confusion: flat, classCount: rows.classCount)
        let k = classCount, n = self.rows, support = self.support

        // probabilities: log loss; the truth counts must agree with the confusion matrix
        let eps = Double.ulpOfOne
        var loss = 0.0
        var seen = [Int](repeating: 0, count: k)
        try rows.forEachBlock { (truth, p, count) throws(ScoreError) in
            if stop() { throw .interrupted }
            for r in 0..<count {
                let t = Int(truth[r])
                guard t >= 0, t < k else { throw .badValue("class index \(t) out of range for \(k) classes") }
                seen[t] += 1
                let q = min(max(p[r * k + t], eps), 1 - eps)
                loss -= log(q)
            }
        }
        guard seen == support else {
            throw .badValue("the evaluated rows do not match the confusion matrix")
        }

        // ranking: ROC AUC and curve of class 1 (two classes) or macro one-vs-rest
        var auc: Double? = nil
        var curves: [ROCCurve] = []
        if k == 2 {
            auc = try Self.auc(rows, positive: 1, count: support[1], of: n, curves: &curves, stop: stop)
        } else if k > 2 {
            var total = 0.0
            var all = true
            for c in 0..<k {
                if let a = try Self.auc(rows, positive: c, count: support[c], of: n, curves: &curves, stop: stop) {
                    total += a
                } else {
                    all = false
                }
            }
            auc = all ? total / Double(k) : nil
        }
        rocCurves = curves
        logLoss = loss / Double(n)
        rocAUC = auc
    }

    /// The metrics the confusion matrix alone determines (accuracy, precision, recall,
    /// F1): for labelled predictions logged without their probabilities, which have no
    /// log loss and no ROC AUC (nil).
    public init(confusion flat: [Int], classCount k: Int) throws(ScoreError) {
        guard k >= 1, flat.count == k * k else {
            throw .badShape("a confusion matrix of \(flat.count) counts for \(k) classes")
        }
        guard flat.allSatisfy({ $0 >= 0 }) else { throw .badValue("a confusion count is negative") }
        let confusion = (0..<k).map { Array(flat[($0 * k)..<($0 * k + k)]) }
        let n = flat.reduce(0, +)
        guard n > 0 else { throw .badValue("no rows to evaluate") }

        // scikit-learn's formulas, F1 = 2tp / (2tp + fp + fn)
        let support = confusion.map { $0.reduce(0, +) }
        var predicted = [Int](repeating: 0, count: k)
        for t in 0..<k { for p in 0..<k { predicted[p] += confusion[t][p] } }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        func ratio(_ a: Int, _ b: Int) -> Double? { b == 0 ? nil : Double(a) / Double(b) }
        let precisions = (0..<k).map { ratio(confusion[$0][$0], predicted[$0]) }
        let recalls = (0..<k).map { ratio(confusion[$0][$0], support[$0]) }
        let f1s = (0..<k).map { ratio(2 * confusion[$0][$0], support[$0] + predicted[$0]) }

        self.rows = n
        self.confusion = confusion
        self.support = support
        accuracy = Double(correct) / Double(n)
        perClassPrecision = precisions
        perClassRecall = recalls
        perClassF1 = f1s
        if k == 2 {
            precision = precisions[1]
            recall = recalls[1]
            f1 = f1s[1]
        } else {
            func macro(_ v: [Double?]) -> Double? {
                let defined = v.compactMap { $0 }
                return defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count)
            }
            precision = macro(precisions)
            recall = macro(recalls)
            f1 = macro(f1s)
        }
        logLoss = nil
        rocAUC = nil
    }

    /// `positives` of the `n` rows have truth == c; appends the class's curve to `curves`.
    static func auc(_ rows: some EvaluationRows, positive c: Int, count positives: Int, of n: Int,
                    curves: inout [ROCCurve], stop: StopCheck) throws(ScoreError) -> Double? {
        guard positives > 0, positives < n else { return nil }
        let k = rows.classCount
        var pos: [Double] = []
        var neg: [Double] = []
        pos.reserveCapacity(positives)
        neg.reserveCapacity(n - positives)
        try rows.forEachBlock { (truth, p, count) throws(ScoreError) in
            if stop() { throw .interrupted }
            for r in 0..<count {
                if Int(truth[r]) == c { pos.append(p[r * k + c]) } else { neg.append(p[r * k + c]) }
            }
        }
        if stop() { throw .interrupted }
        let area = rocAUC(positives: &pos, negatives: &neg)
        curves.append(ROCCurve(classIndex: c, sortedPositives: pos, sortedNegatives: neg))
        return area
    }

    /// The Mann–Whitney statistic U / (P·N): the probability that a random positive
    /// scores above a random negative, ties counting one half. This is the area under
    /// the ROC curve with its trapezoids, as scikit-learn's roc_auc_score. Sorts both
    /// arrays. nil when either is empty.
    public static func rocAUC(positives pos: inout [Double], negatives neg: inout [Double]) -> Double? {
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        pos.sort()
        neg.sort()
        // 2U counted exactly in integers while it fits, then in doubles
        var twiceU = 0
        var spill = 0.0
        var i = 0, below = 0
        while i < pos.count {
            let s = pos[i]
            var iEnd = i + 1
            while iEnd < pos.count, pos[iEnd] == s { iEnd += 1 }
            while below < neg.count, neg[below] < s { below += 1 }
            var tieEnd = below
            while tieEnd < neg.count, neg[tieEnd] == s { tieEnd += 1 }
            let (term, o1) = (iEnd - i).multipliedReportingOverflow(by: 2 * below + (tieEnd - below))
            let (sum, o2) = twiceU.addingReportingOverflow(term)
            if o1 || o2 {
                spill += Double(twiceU) + Double(iEnd - i) * Double(2 * below + (tieEnd - below))
                twiceU = 0
            } else {
                twiceU = sum
            }
            i = iEnd
        }
        return (spill + Double(twiceU)) / (2 * Double(pos.count) * Double(neg.count))
    }

    /// The metrics as a JSON object; `classes` are the class labels as JSON, class order.
    public func json(classes: [JSONValue]) -> JSONValue {
        func number(_ v: Double?) -> JSONValue { v.map { $0.isFinite ? .number($0) : .null } ?? .null }
        func numbers(_ v: [Double?]) -> JSONValue { .array(v.map(number)) }
        func counts(_ v: [Int]) -> JSONValue { .array(v.map { .number(Double($0)) }) }
        var members: [(String, JSONValue)] = [
            ("rows", .number(Double(rows))),
            ("classes", .array(classes)),
            ("average", .string(isBinary ? "binary" : "macro")),
        ]
        if isBinary, classes.count == 2 { members.append(("positive_class", classes[1])) }
        members += [
            ("accuracy", number(accuracy)),
            ("precision", number(precision)),
            ("recall", number(recall)),
            ("f1", number(f1)),
            ("roc_auc", number(rocAUC)),
            ("log_loss", number(logLoss)),
            ("confusion_matrix", .array(confusion.map(counts))),
            ("per_class", .object([
                ("precision", numbers(perClassPrecision)),
                ("recall", numbers(perClassRecall)),
                ("f1", numbers(perClassF1)),
                ("support", counts(support)),
            ])),
        ]
        if !rocCurves.isEmpty { members.append(("roc", .array(rocCurves.map { $0.json(classes: classes) }))) }
        return .object(members)
    }
}

extension LabelKind {
    /// A class label (its text form) as JSON in its SQL type, as ml.describe writes classes.
    public func json(_ text: [UInt8]) -> JSONValue {
        let s = String(decoding: text, as: UTF8.self)
        switch self {
        case .boolean: return .bool(s == "true")
        case .integer: return Double(s).map { .number($0) } ?? .string(s)
        case .float8, .text: return .string(s)
        }
    }
}

// MARK: - regression

/// Running sums of a regression evaluation in a flat buffer of `count` doubles that
/// the host owns (zeroed to start): [rows, mean of the truth, Σ (truth − mean)²,
/// Σ |error|, Σ error²]. Constant size whatever the row count; mergeable (Chan et
/// al.), so partial states from parallel workers combine.
public enum RegressionSums {
    public static let count = 5

    public static func add(_ s: UnsafeMutablePointer<Double>, prediction: Double, truth: Double) {
        let n = s[0] + 1
        let d = truth - s[1]
        s[0] = n
        s[1] += d / n
        s[2] += d * (truth - s[1])
        let e = truth - prediction
        s[3] += abs(e)
        s[4] += e * e
    }

    public static func merge(into a: UnsafeMutablePointer<Double>, from b: UnsafePointer<Double>) {
        let na = a[0], nb = b[0]
        guard nb > 0 else { return }
        guard na > 0 else {
            for i in 0..<count { a[i] = b[i] }
            return
        }
        let n = na + nb
        let d = b[1] - a[1]
        a[0] = n
        a[1] += d * nb / n
        a[2] += b[2] + d * d * na * nb / n
        a[3] += b[3]
        a[4] += b[4]
    }
}

public struct RegressionMetrics: Equatable, Sendable {
    public var rows: Int
    /// 1 − Σ error² / Σ (truth − mean)²; nil for a constant truth or a single row.
    public var r2: Double?
    public var mae: Double
    public var rmse: Double

    public init(sums s: UnsafePointer<Double>) throws(ScoreError) {
        guard s[0] >= 1, s[0] == s[0].rounded() else { throw .badValue("no rows to evaluate") }
        rows = Int(s[0])
        let n = s[0]
        r2 = rows >= 2 && s[2] > 0 ? 1 - s[4] / s[2] : nil
        mae = s[3] / n
        rmse = (s[4] / n).squareRoot()
    }

    public init(predictions: [Double], truth: [Double]) throws(ScoreError) {
        guard predictions.count == truth.count else {
            throw .badShape("\(predictions.count) predictions for \(truth.count) labels")
        }
        var s = [Double](repeating: 0, count: RegressionSums.count)
        for (p, t) in zip(predictions, truth) { RegressionSums.add(&s, prediction: p, truth: t) }
        self = try s.withUnsafeBufferPointer { (b) throws(ScoreError) in try RegressionMetrics(sums: b.baseAddress!) }
    }

    public var json: JSONValue {
        func number(_ v: Double?) -> JSONValue { v.map { $0.isFinite ? .number($0) : .null } ?? .null }
        return .object([
            ("rows", .number(Double(rows))),
            ("r2", number(r2)),
            ("mae", number(mae)),
            ("rmse", number(rmse)),
        ])
    }
}
