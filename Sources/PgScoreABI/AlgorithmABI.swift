import ScoreCore

/// The algorithm table (ScoreCore/Algorithm.swift) as C strings that live as long as the
/// process: name, alias and aggregate per algorithm. Written once (a lazy global is
/// initialised exactly once), then only read: safe to share.
nonisolated(unsafe) private let algorithmTexts: [UInt16: [UnsafeMutablePointer<CChar>]] = {
    var table: [UInt16: [UnsafeMutablePointer<CChar>]] = [:]
    for a in Algorithm.allCases {
        table[a.rawValue] = [a.name, a.alias, a.aggregate].map { s in
            let bytes = Array(s.utf8CString)
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            p.initialize(from: bytes, count: bytes.count)
            return p
        }
    }
    return table
}()

/// The smallest algorithm id above `after`, or 0 when there is none: C walks the table
/// with it (ml.algorithms()).
@_cdecl("pgsc_algorithm_next")
public func pgsc_algorithm_next(_ after: Int32) -> Int32 {
    Int32(Algorithm.allCases.map { Int32($0.rawValue) }.filter { $0 > after }.min() ?? 0)
}

/// Field 0 name, 1 alias, 2 aggregate of algorithm `id` (NUL-terminated, never freed);
/// NULL for an unknown id or field.
@_cdecl("pgsc_algorithm_text")
public func pgsc_algorithm_text(_ id: Int32, _ field: Int32) -> UnsafePointer<CChar>? {
    guard id >= 0, id <= Int32(UInt16.max), let texts = algorithmTexts[UInt16(id)], field >= 0, Int(field) < texts.count else {
        return nil
    }
    return UnsafePointer(texts[Int(field)])
}

/// What algorithm `id` can do: 1 classification, 2 regression, 4 a tree model (learns
/// missing values, needs no scaling); 0 for an unknown id.
@_cdecl("pgsc_algorithm_traits")
public func pgsc_algorithm_traits(_ id: Int32) -> Int32 {
    guard let a = try? Algorithm(id: Int(id)) else { return 0 }
    return (a.fitsClassification ? 1 : 0) | (a.fitsRegression ? 2 : 0) | (a.isTree ? 4 : 0)
}
