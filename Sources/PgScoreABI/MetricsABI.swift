import ScoreCore

// ml.metrics: per-row scoring into host-owned state, and the final computation.
// C view: extension/include/pgscore_abi_metrics.h.

/// The JSON text of a finished evaluation; C reads it with pgsc_metrics_result_text
/// and releases it with pgsc_metrics_result_release.
final class MetricsResult {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let count: Int

    init(_ json: JSONValue) {
        let text = Array(json.serialized.utf8)
        bytes = .allocate(capacity: max(text.count, 1))
        _ = bytes.initialize(from: text)
        count = text.count
    }

    deinit { bytes.deallocate() }
}

@_cdecl("pgsc_metrics_result_text")
public func pgsc_metrics_result_text(_ p: UnsafeMutableRawPointer,
                                     _ text: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                                     _ len: UnsafeMutablePointer<Int64>) {
    let r = Unmanaged<MetricsResult>.fromOpaque(p).takeUnretainedValue()
    text.pointee = UnsafeRawPointer(r.bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
    len.pointee = Int64(r.count)
}

@_cdecl("pgsc_metrics_result_release")
public func pgsc_metrics_result_release(_ p: UnsafeMutableRawPointer?) {
    guard let p else { return }
    Unmanaged<MetricsResult>.fromOpaque(p).release()
}

/// Doubles in a regression evaluation state (RegressionSums).
@_cdecl("pgsc_metrics_sums_length")
public func pgsc_metrics_sums_length() -> Int64 {
    Int64(RegressionSums.count)
}

/// Scores one row with a classifier: writes its class probabilities to `proba`
/// (pgsc_model_info's class count) and counts it in confusion[truth][predicted].
@_cdecl("pgsc_metrics_add_class")
public func pgsc_metrics_add_class(_ p: UnsafeMutableRawPointer, _ x: UnsafePointer<Double>, _ n: Int64,
                                   _ truth: Int32, _ proba: UnsafeMutablePointer<Double>,
                                   _ confusion: UnsafeMutablePointer<Int64>,
                                   _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    do {
        // guaranteed reference: no retain/release per row (C holds the handle alive)
        try typed {
            try Unmanaged<ModelHandle>.fromOpaque(p)._withUnsafeGuaranteedRef { h in
                let k = h.scorer.classCount
                guard truth >= 0, Int(truth) < k else {
                    throw ScoreError.badValue("class index \(truth) out of range for \(k) classes")
                }
                let predicted = try h.scorer.classify(x, count: Int(n), probabilities: proba)
                confusion[Int(truth) * k + predicted] += 1
            }
        }
        return statusOK
    } catch {
        return report(error, err)
    }
}

/// Scores one row with a regression model and adds (prediction, truth) to `sums`.
@_cdecl("pgsc_metrics_add_value")
public func pgsc_metrics_add_value(_ p: UnsafeMutableRawPointer, _ x: UnsafePointer<Double>, _ n: Int64,
                                   _ truth: Double, _ sums: UnsafeMutablePointer<Double>,
                                   _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard truth.isFinite else {
        return report(.badValue("label is \(sqlSpelling(truth)); labels must be finite numbers",
                                hint: "Filter or replace NaN and Infinity labels."), err)
    }
    return guarded(err) { () throws(ScoreError) in
        let prediction = try typed {
            try Unmanaged<ModelHandle>.fromOpaque(p)._withUnsafeGuaranteedRef { try $0.scorer.predict(x, count: Int(n)) }
        }
        guard case let .value(v) = prediction else {
            throw .badValue("a float8 label needs a regression model; this model is a classifier",
                            hint: "Pass the label as text to evaluate a classifier.")
        }
        RegressionSums.add(sums, prediction: v, truth: truth)
    }
}

@_cdecl("pgsc_metrics_merge_sums")
public func pgsc_metrics_merge_sums(_ into: UnsafeMutablePointer<Double>, _ from: UnsafePointer<Double>) {
    RegressionSums.merge(into: into, from: from)
}

/// Evaluated classification rows PostgreSQL keeps in chunks of its aggregate memory.
struct ChunkEvaluationRows: EvaluationRows {
    let classCount: Int
    let truth: UnsafePointer<UnsafePointer<Int32>?>
    let proba: UnsafePointer<UnsafePointer<Double>?>
    let rows: UnsafePointer<Int64>
    let chunks: Int

    func forEachBlock(_ body: (UnsafePointer<Int32>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        for c in 0..<chunks where rows[c] > 0 {
            guard let t = truth[c], let p = proba[c] else { throw .badValue("chunk \(c) is missing") }
            try body(t, p, Int(rows[c]))
        }
    }
}

/// The classification metrics as a result handle (JSON). `confusion` holds classes²
/// counts, row = truth; labels are the class labels' text, class order.
@_cdecl("pgsc_metrics_classification")
public func pgsc_metrics_classification(_ classes: Int64, _ kind: Int32,
                                        _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?,
                                        _ labelLens: UnsafePointer<Int32>?,
                                        _ confusion: UnsafePointer<Int64>,
                                        _ chunkTruth: UnsafePointer<UnsafePointer<Int32>?>,
                                        _ chunkProba: UnsafePointer<UnsafePointer<Double>?>,
                                        _ chunkRows: UnsafePointer<Int64>, _ chunks: Int64,
                                        _ stop: (@convention(c) () -> Int32)?,
                                        _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                        _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    classificationResult(classes, kind, labelPtrs, labelLens, confusion, out, err) { (k, flat) throws(ScoreError) in
        let rows = ChunkEvaluationRows(classCount: k, truth: chunkTruth, proba: chunkProba,
                                       rows: chunkRows, chunks: Int(chunks))
        return try ClassificationMetrics(confusion: flat, rows: rows, stop: { stop.map { $0() != 0 } ?? false })
    }
}

/// Publishes the JSON of the metrics `compute(k, confusion)` gives as a result handle.
private func classificationResult(_ classes: Int64, _ kind: Int32,
                                  _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?,
                                  _ labelLens: UnsafePointer<Int32>?,
                                  _ confusion: UnsafePointer<Int64>,
                                  _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                  _ err: UnsafeMutablePointer<CChar>?,
                                  _ compute: (Int, [Int]) throws(ScoreError) -> ClassificationMetrics) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let k = Int(classes)
        guard k >= 1 else { throw .badValue("no classes") }
        let kindOfLabels = try labelKind(kind)
        let m = try compute(k, (0..<(k * k)).map { Int(confusion[$0]) })
        let json = m.json(classes: labels(labelPtrs, labelLens, k).map(kindOfLabels.json))
        out.pointee = Unmanaged.passRetained(MetricsResult(json)).toOpaque()
    }
}

/// The classification metrics of a confusion matrix alone (ml.label_metrics over
/// predictions logged without probabilities): no log loss, no ROC AUC.
@_cdecl("pgsc_metrics_counts")
public func pgsc_metrics_counts(_ classes: Int64, _ kind: Int32,
                                _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?,
                                _ labelLens: UnsafePointer<Int32>?,
                                _ confusion: UnsafePointer<Int64>,
                                _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    classificationResult(classes, kind, labelPtrs, labelLens, confusion, out, err) { (k, flat) throws(ScoreError) in
        try ClassificationMetrics(confusion: flat, classCount: k)
    }
}

/// Adds a logged (prediction, truth) pair of a regression model to `sums`.
@_cdecl("pgsc_metrics_add_pair")
public func pgsc_metrics_add_pair(_ prediction: Double, _ truth: Double, _ sums: UnsafeMutablePointer<Double>,
                                  _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard prediction.isFinite, truth.isFinite else {
        return report(.badValue("a prediction or label is not a finite number",
                                hint: "Filter or replace NaN and Infinity."), err)
    }
    RegressionSums.add(sums, prediction: prediction, truth: truth)
    return statusOK
}

/// The regression metrics of `sums` (pgsc_metrics_sums_length doubles) as a result handle.
@_cdecl("pgsc_metrics_regression")
public func pgsc_metrics_regression(_ sums: UnsafePointer<Double>,
                                    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                    _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        out.pointee = Unmanaged.passRetained(MetricsResult(try RegressionMetrics(sums: sums).json)).toOpaque()
    }
}

/// Population stability index of live counts against training shares over the same
/// `n` bins (Drift.populationStabilityIndex), into `out`.
@_cdecl("pgsc_psi")
public func pgsc_psi(_ expected: UnsafePointer<Double>, _ observed: UnsafePointer<Double>, _ n: Int64,
                     _ floor: Double, _ out: UnsafeMutablePointer<Double>,
                     _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guarded(err) { () throws(ScoreError) in
        out.pointee = try Drift.populationStabilityIndex(
            expected: Array(UnsafeBufferPointer(start: expected, count: Int(n))),
            observed: Array(UnsafeBufferPointer(start: observed, count: Int(n))), floor: floor)
    }
}
