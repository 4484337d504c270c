/// The ROC curve of one class against the rest, as scikit-learn's roc_curve draws it with
/// drop_intermediate=True: a point per distinct score (descending) where the curve turns,
/// the points in the middle of a straight run of equal steps left out, starting at (0, 0)
/// with an infinite threshold (JSON null). Its trapezoids add up to the ROC AUC.
///
/// At most `maxPoints` points are kept (stored with every version): a longer curve keeps
/// its first and last point and points evenly spaced by index between them, so its
/// trapezoid area can be a little off the stored roc_auc (which is exact).
public struct ROCCurve: Equatable, Sendable {
    public static let maxPoints = 101

    /// The class (index, class order) the curve is of.
    public var classIndex: Int
    public var fpr: [Double]
    public var tpr: [Double]
    /// The lowest score counted positive at each point; the first is +infinity.
    public var thresholds: [Double]
    /// Whether points were left out to stay within maxPoints (beyond scikit-learn's own).
    public var thinned: Bool

    /// `pos` / `neg`: the class's probabilities of the rows of the class and of the others,
    /// both sorted ascending and not empty.
    init(classIndex: Int, sortedPositives pos: [Double], sortedNegatives neg: [Double], maxPoints: Int = ROCCurve.maxPoints) {
        // cumulative counts at each distinct score, from the highest down
        var tps: [Double] = [], fps: [Double] = [], scores: [Double] = []
        var i = pos.count - 1, j = neg.count - 1
        var tp = 0, fp = 0
        while i >= 0 || j >= 0 {
            let s = max(i >= 0 ? pos[i] : -.infinity, j >= 0 ? neg[j] : -.infinity)
            while i >= 0, pos[i] == s { tp += 1; i -= 1 }
            while j >= 0, neg[j] == s { fp += 1; j -= 1 }
            tps.append(Double(tp))
            fps.append(Double(fp))
            scores.append(s)
        }
        // scikit-learn's drop_intermediate: keep the ends and where a second difference is not 0
        var keep = [0]
        if tps.count > 2 {
            for k in 1..<(tps.count - 1)
            where fps[k - 1] - 2 * fps[k] + fps[k + 1] != 0 || tps[k - 1] - 2 * tps[k] + tps[k + 1] != 0 {
                keep.append(k)
            }
        }
        if tps.count > 1 { keep.append(tps.count - 1) }
        var f = [0.0] + keep.map { fps[$0] / Double(neg.count) }
        var t = [0.0] + keep.map { tps[$0] / Double(pos.count) }
        var th = [Double.infinity] + keep.map { scores[$0] }
        thinned = f.count > maxPoints
        if thinned {
            let last = f.count - 1
            let picked = (0..<maxPoints).map { ($0 * last + (maxPoints - 1) / 2) / (maxPoints - 1) }
            f = picked.map { f[$0] }
            t = picked.map { t[$0] }
            th = picked.map { th[$0] }
        }
        self.classIndex = classIndex
        fpr = f
        tpr = t
        thresholds = th
    }

    /// {"class", "fpr", "tpr", "thresholds" (the first null: +infinity), "thinned"}.
    public func json(classes: [JSONValue]) -> JSONValue {
        func numbers(_ v: [Double]) -> JSONValue { .array(v.map { $0.isFinite ? .number($0) : .null }) }
        return .object([
            ("class", classIndex < classes.count ? classes[classIndex] : .number(Double(classIndex))),
            ("fpr", numbers(fpr)), ("tpr", numbers(tpr)), ("thresholds", numbers(thresholds)),
            ("thinned", .bool(thinned)),
        ])
    }
}
