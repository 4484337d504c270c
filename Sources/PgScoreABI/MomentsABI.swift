import ScoreCore

@_cdecl("pgsc_moments_length")
public func pgsc_moments_length(_ dim: Int64, _ full: Int32) -> Int64 {
    Int64(MomentsLayout(dim: Int(dim), full: full != 0).count)
}

/// Adds x (dim values, or dim-1 plus `tail`) to the moments; refuses non-finite values.
@_cdecl("pgsc_moments_add")
public func pgsc_moments_add(_ state: UnsafeMutablePointer<Double>, _ dim: Int64, _ full: Int32,
                             _ x: UnsafePointer<Double>, _ tail: Double, _ hasTail: Int32,
                             _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    let m = Int(dim)
    let xs = hasTail != 0 ? m - 1 : m
    for j in 0..<xs where !x[j].isFinite {
        return report(.badValue("feature \(j + 1) is \(sqlSpelling(x[j])); features must be finite numbers",
                                hint: "Filter or replace NaN and Infinity before training."), err)
    }
    if hasTail != 0, !tail.isFinite {
        return report(.badValue("label is \(sqlSpelling(tail)); labels must be finite numbers"), err)
    }
    MomentsLayout(dim: m, full: full != 0).add(state, x: x, tail: hasTail != 0 ? tail : nil)
    return statusOK
}

@_cdecl("pgsc_moments_merge")
public func pgsc_moments_merge(_ into: UnsafeMutablePointer<Double>, _ from: UnsafePointer<Double>,
                               _ dim: Int64, _ full: Int32) {
    MomentsLayout(dim: Int(dim), full: full != 0).merge(into: into, from: from)
}

@_cdecl("pgsc_moments_count")
public func pgsc_moments_count(_ state: UnsafePointer<Double>) -> Int64 {
    Int64(state[0])
}
