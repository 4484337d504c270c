import ScoreCore

// Tree models (decision tree, random forest, gradient boosting): training over the rows
// the aggregate keeps, and what the glue needs to know when scoring them.
// Prototypes: extension/include/pgscore_abi_trees.h.

/// Regression rows PostgreSQL keeps in chunks of its aggregate memory.
struct ChunkValueRows: RegressionRowBlocks {
    let featureCount: Int
    let features: UnsafePointer<UnsafePointer<Double>?>
    let targets: UnsafePointer<UnsafePointer<Double>?>
    let rows: UnsafePointer<Int64>
    let chunks: Int

    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        for c in 0..<chunks where rows[c] > 0 {
            guard let f = features[c], let t = targets[c] else { throw .badValue("chunk \(c) is missing") }
            try body(f, t, Int(rows[c]))
        }
    }
}

/// Trains a tree model. Classification (label kind boolean, integer or text): label ids
/// per chunk in `chunkLabels`, mapped to classes by `classOfId`; regression (label kind
/// float8): targets per chunk in `chunkTargets`. NaN features are missing values.
@_cdecl("pgsc_tree_fit")
public func pgsc_tree_fit(_ algo: Int32,
                          _ chunkFeatures: UnsafePointer<UnsafePointer<Double>?>,
                          _ chunkLabels: UnsafePointer<UnsafePointer<Int32>?>?,
                          _ chunkTargets: UnsafePointer<UnsafePointer<Double>?>?,
                          _ chunkRows: UnsafePointer<Int64>, _ chunks: Int64, _ features: Int64,
                          _ classOfId: UnsafePointer<Int32>?, _ ids: Int64,
                          _ kind: Int32,
                          _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?, _ labelLens: UnsafePointer<Int32>?,
                          _ classes: Int64, _ options: UnsafePointer<CChar>?, _ optionsLen: Int64,
                          _ stop: (@convention(c) () -> Int32)?,
                          _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                          _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let a = try algorithm(algo)
        guard a.isTree else { throw .badValue("\(a.name) is not a tree algorithm") }
        let d = Int(features), k = Int(classes)
        let o = try TrainingOptions.parse(string(options, optionsLen), for: a)
        let lk = try labelKind(kind)
        let shouldStop: StopCheck = { stop.map { $0() != 0 } ?? false }
        let model: Model
        if lk == .float8 {
            guard let chunkTargets else { throw .badValue("regression rows without targets") }
            let rows = ChunkValueRows(featureCount: d, features: chunkFeatures, targets: chunkTargets,
                                      rows: chunkRows, chunks: Int(chunks))
            model = try TreeModels.trainRegressor(a, rows: rows, options: o, stop: shouldStop)
        } else {
            guard let chunkLabels, let classOfId else { throw .badValue("classification rows without labels") }
            let rows = ChunkRows(featureCount: d, features: chunkFeatures, labels: chunkLabels,
                                 rows: chunkRows, chunks: Int(chunks))
            let classOf = Array(UnsafeBufferPointer(start: classOfId, count: Int(ids)))
            model = try TreeModels.trainClassifier(a, rows: rows, classOf: classOf, classes: labels(labelPtrs, labelLens, k),
                                                   labelKind: lk, options: o, stop: shouldStop)
        }
        try publish(model, out)
    }
}

/// Bytes a tree fit allocates next to the host's rows (counted against
/// pgscore.max_training_memory before the fit starts): ``TreeModels/scratchBytes``.
@_cdecl("pgsc_tree_scratch_bytes")
public func pgsc_tree_scratch_bytes(_ algo: Int32, _ rows: Int64, _ features: Int64, _ classes: Int64) -> Int64 {
    guard let a = try? algorithm(algo), a.isTree else { return 0 }
    return Int64(clamping: TreeModels.scratchBytes(a, rows: Int(rows), features: Int(features), classes: Int(classes)))
}

/// 1 when the model takes NaN (a NULL element of a features array) as a missing value
/// (tree models), 0 when missing features make the prediction unknown.
@_cdecl("pgsc_model_accepts_missing")
public func pgsc_model_accepts_missing(_ p: UnsafeMutableRawPointer) -> Int32 {
    ModelHandle.from(p).model.algorithm.isTree ? 1 : 0
}
