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

/// Rows the host keeps as one-byte codes per feature (extension/tree_codes.h), decoded
/// block by block into doubles: the fit sees the exact values it would have been handed.
struct CodedChunks {
    let featureCount: Int
    let codes: UnsafePointer<UnsafePointer<UInt8>?>
    /// featureCount × 255: the value of code c of feature j at j·255 + c; code 255 is missing.
    let values: UnsafePointer<Double>
    let rows: UnsafePointer<Int64>
    let chunks: Int

    func forEachChunk(_ body: (Int, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        let d = featureCount
        let most = (0..<chunks).reduce(0) { max($0, Int(rows[$1])) }
        let x = UnsafeMutablePointer<Double>.allocate(capacity: max(most * d, 1))
        defer { x.deallocate() }
        for c in 0..<chunks where rows[c] > 0 {
            guard let code = codes[c] else { throw .badValue("chunk \(c) is missing") }
            let n = Int(rows[c])
            for r in 0..<n {
                for j in 0..<d {
                    let b = Int(code[r * d + j])
                    x[r * d + j] = b == 255 ? .nan : values[j * 255 + b]
                }
            }
            try body(c, x, n)
        }
    }
}

/// Coded rows with their labels: class ids (Int32) or targets (Double) per chunk.
struct CodedBlocks<Label> {
    let coded: CodedChunks
    let labels: UnsafePointer<UnsafePointer<Label>?>
    var featureCount: Int { coded.featureCount }

    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Label>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        try coded.forEachChunk { (c, x, n) throws(ScoreError) in
            guard let l = labels[c] else { throw .badValue("chunk \(c) is missing") }
            try body(x, l, n)
        }
    }
}

extension CodedBlocks: RowBlocks where Label == Int32 {}
extension CodedBlocks: RegressionRowBlocks where Label == Double {}

/// Trains a tree model. Classification (label kind boolean, integer or text): label ids
/// per chunk in `chunkLabels`, mapped to classes by `classOfId`; regression (label kind
/// float8): targets per chunk in `chunkTargets`. NaN features are missing values.
/// With `chunkCodes`, the features are one-byte codes of `codeValues` (``CodedChunks``).
@_cdecl("pgsc_tree_fit")
public func pgsc_tree_fit(_ algo: Int32,
                          _ chunkFeatures: UnsafePointer<UnsafePointer<Double>?>,
                          _ chunkCodes: UnsafePointer<UnsafePointer<UInt8>?>?,
                          _ codeValues: UnsafePointer<Double>?,
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
        var coded: CodedChunks?
        if let chunkCodes {
            guard let codeValues else { throw .badValue("coded rows without their values") }
            coded = CodedChunks(featureCount: d, codes: chunkCodes, values: codeValues, rows: chunkRows, chunks: Int(chunks))
        }
        let model: Model
        if lk == .float8 {
            guard let chunkTargets else { throw .badValue("regression rows without targets") }
            if let coded {
                model = try TreeModels.trainRegressor(a, rows: CodedBlocks(coded: coded, labels: chunkTargets),
                                                      options: o, stop: shouldStop)
            } else {
                let rows = ChunkValueRows(featureCount: d, features: chunkFeatures, targets: chunkTargets,
                                          rows: chunkRows, chunks: Int(chunks))
                model = try TreeModels.trainRegressor(a, rows: rows, options: o, stop: shouldStop)
            }
        } else {
            guard let chunkLabels, let classOfId else { throw .badValue("classification rows without labels") }
            let classOf = Array(UnsafeBufferPointer(start: classOfId, count: Int(ids)))
            let classes = labels(labelPtrs, labelLens, k)
            if let coded {
                model = try TreeModels.trainClassifier(a, rows: CodedBlocks(coded: coded, labels: chunkLabels), classOf: classOf,
                                                       classes: classes, labelKind: lk, options: o, stop: shouldStop)
            } else {
                let rows = ChunkRows(featureCount: d, features: chunkFeatures, labels: chunkLabels,
                                     rows: chunkRows, chunks: Int(chunks))
                model = try TreeModels.trainClassifier(a, rows: rows, classOf: classOf, classes: classes,
                                                       labelKind: lk, options: o, stop: shouldStop)
            }
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
