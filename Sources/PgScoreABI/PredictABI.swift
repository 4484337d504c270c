import ScoreCore

/// Regression: *value; classification: *classIndex (class order, 0-based).
@_cdecl("pgsc_predict")
public func pgsc_predict(_ p: UnsafeMutableRawPointer, _ x: UnsafePointer<Double>, _ n: Int64,
                         _ value: UnsafeMutablePointer<Double>, _ classIndex: UnsafeMutablePointer<Int64>,
                         _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    do {
        // guaranteed reference: no retain/release per row (C holds the handle alive)
        let prediction = try typed {
            try Unmanaged<ModelHandle>.fromOpaque(p)._withUnsafeGuaranteedRef { try $0.scorer.predict(x, count: Int(n)) }
        }
        switch prediction {
        case let .value(v):
            value.pointee = v
            classIndex.pointee = -1
        case let .classIndex(c):
            value.pointee = .nan
            classIndex.pointee = Int64(c)
        }
        return statusOK
    } catch {
        return report(error, err)
    }
}

/// Writes one probability per class (pgsc_model_info's class count) into `out`.
@_cdecl("pgsc_predict_proba")
public func pgsc_predict_proba(_ p: UnsafeMutableRawPointer, _ x: UnsafePointer<Double>, _ n: Int64,
                               _ out: UnsafeMutablePointer<Double>,
                               _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    let scorer = ModelHandle.from(p).scorer
    do {
        try scorer.probabilities(x, count: Int(n), into: out)
        return statusOK
    } catch {
        return report(error, err)
    }
}
