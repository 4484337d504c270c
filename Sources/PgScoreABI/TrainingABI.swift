import ScoreCore

func algorithm(_ code: Int32) throws(ScoreError) -> Algorithm {
    try Algorithm(id: Int(code))
}

func labelKind(_ code: Int32) throws(ScoreError) -> LabelKind {
    guard code >= 0, code <= 255, let k = LabelKind(rawValue: UInt8(code)) else {
        throw .badValue("unknown label kind \(code)")
    }
    return k
}

func labels(_ ptrs: UnsafePointer<UnsafePointer<CChar>?>?, _ lens: UnsafePointer<Int32>?,
            _ count: Int) -> [[UInt8]] {
    guard let ptrs, let lens else { return [] }
    return (0..<count).map { i in
        guard let p = ptrs[i], lens[i] > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(lens[i])))
    }
}

/// Hands a new model to C, encoded; a value the decoder would refuse is never made
/// (whatever pgscore stores, the cast reads back).
func publish(_ model: Model, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(ScoreError) {
    let encoded = ModelCodec.encode(model)
    // the cast's own rules: a model that could not be read back (pg_restore, COPY) is never stored
    do {
        _ = try ModelCodec.decode(encoded)
    } catch {
        guard case let .badModel(why) = error else { throw error }
        throw .unfitData("the trained model cannot be stored: \(why)",
                         hint: "The labels or features are too large for double precision arithmetic (near 1e308); rescale them.")
    }
    out.pointee = ModelHandle(model, encoded: encoded).retainedPointer()
}

@_cdecl("pgsc_options_check")
public func pgsc_options_check(_ algo: Int32, _ json: UnsafePointer<CChar>?, _ len: Int64,
                               _ skipNullFeatures: UnsafeMutablePointer<Int32>,
                               _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guarded(err) { () throws(ScoreError) in
        let o = try TrainingOptions.parse(string(json, len), for: try algorithm(algo))
        // 0 error, 1 skip the row, 2 missing value (trees: PGSC_NULLS_* in pgscore_abi_trees.h)
        skipNullFeatures.pointee = o.nullsAsMissing ? 2 : (o.skipNullFeatures ? 1 : 0)
    }
}

@_cdecl("pgsc_linreg_fit")
public func pgsc_linreg_fit(_ moments: UnsafePointer<Double>, _ features: Int64,
                            _ options: UnsafePointer<CChar>?, _ optionsLen: Int64,
                            _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                            _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let d = Int(features)
        let o = try TrainingOptions.parse(string(options, optionsLen), for: .linearRegression)
        let stats = MomentsLayout(dim: d + 1, full: true).centered(moments)
        let params = try LinearRegression.fit(stats, featureCount: d, options: o)
        try publish(Model(algorithm: .linearRegression, featureCount: d, trainingRows: stats.count,
                      labelKind: .float8, classes: [], parameters: params,
                      options: o.json(for: .linearRegression)), out)
    }
}

@_cdecl("pgsc_nb_fit")
public func pgsc_nb_fit(_ classMoments: UnsafePointer<UnsafePointer<Double>?>, _ classes: Int64,
                        _ features: Int64, _ kind: Int32,
                        _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?, _ labelLens: UnsafePointer<Int32>?,
                        _ options: UnsafePointer<CChar>?, _ optionsLen: Int64,
                        _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                        _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let d = Int(features), k = Int(classes)
        let o = try TrainingOptions.parse(string(options, optionsLen), for: .naiveBayes)
        let layout = MomentsLayout(dim: d, full: false)
        var perClass: [CenteredMoments] = []
        for c in 0..<k {
            guard let p = classMoments[c] else { throw .badValue("class \(c + 1) has no moments") }
            perClass.append(layout.centered(p))
        }
        let params = try NaiveBayes.fit(perClass: perClass, featureCount: d, options: o)
        try publish(Model(algorithm: .naiveBayes, featureCount: d,
                      trainingRows: perClass.reduce(0) { $0 + $1.count },
                      labelKind: try labelKind(kind), classes: labels(labelPtrs, labelLens, k),
                      parameters: params, options: o.json(for: .naiveBayes)), out)
    }
}

/// The rows PostgreSQL keeps in chunks of its aggregate memory.
struct ChunkRows: RowBlocks {
    let featureCount: Int
    let features: UnsafePointer<UnsafePointer<Double>?>
    let labels: UnsafePointer<UnsafePointer<Int32>?>
    let rows: UnsafePointer<Int64>
    let chunks: Int

    var rowCount: Int { (0..<chunks).reduce(0) { $0 + Int(rows[$1]) } }

    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Int32>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        for c in 0..<chunks where rows[c] > 0 {
            guard let f = features[c], let l = labels[c] else { throw .badValue("chunk \(c) is missing") }
            try body(f, l, Int(rows[c]))
        }
    }
}

@_cdecl("pgsc_logreg_fit")
public func pgsc_logreg_fit(_ chunkFeatures: UnsafePointer<UnsafePointer<Double>?>,
                            _ chunkLabels: UnsafePointer<UnsafePointer<Int32>?>,
                            _ chunkRows: UnsafePointer<Int64>, _ chunks: Int64, _ features: Int64,
                            _ classOfId: UnsafePointer<Int32>, _ ids: Int64,
                            _ kind: Int32,
                            _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?, _ labelLens: UnsafePointer<Int32>?,
                            _ classes: Int64, _ options: UnsafePointer<CChar>?, _ optionsLen: Int64,
                            _ stop: (@convention(c) () -> Int32)?,
                            _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                            _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let d = Int(features), k = Int(classes)
        let o = try TrainingOptions.parse(string(options, optionsLen), for: .logisticRegression)
        let rows = ChunkRows(featureCount: d, features: chunkFeatures, labels: chunkLabels,
                             rows: chunkRows, chunks: Int(chunks))
        let classOf = Array(UnsafeBufferPointer(start: classOfId, count: Int(ids)))
        let params = try LogisticRegression.fit(rows: rows, classOf: classOf, classCount: k, options: o,
                                                stop: { stop.map { $0() != 0 } ?? false })
        try publish(Model(algorithm: .logisticRegression, featureCount: d, trainingRows: rows.rowCount,
                      labelKind: try labelKind(kind), classes: labels(labelPtrs, labelLens, k),
                      parameters: params, options: o.json(for: .logisticRegression)), out)
    }
}
