import ScoreCore

// ml._preprocess_fit (one column's preprocessing fit) and ml._numeric_text.
// C view: extension/include/pgscore_abi_prepfit.h.

/// What a C fit handle points at: one column's mergeable fit state.
final class ColumnFitHandle {
    var fit: ColumnFit
    init(_ fit: ColumnFit) { self.fit = fit }

    static func from(_ p: UnsafeMutableRawPointer) -> ColumnFitHandle {
        Unmanaged<ColumnFitHandle>.fromOpaque(p).takeUnretainedValue()
    }
}

/// A new state for the column the options JSON describes; textual: values come as text.
@_cdecl("pgsc_prepfit_open")
public func pgsc_prepfit_open(_ options: UnsafePointer<CChar>?, _ len: Int64, _ textual: Int32,
                              _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                              _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        guard let value = try? JSONValue.parse(string(options, len)) else {
            throw .badValue("preprocessing fit options are not valid JSON")
        }
        let fit = ColumnFit(options: try ColumnFit.Options(json: value), textual: textual != 0)
        out.pointee = Unmanaged.passRetained(ColumnFitHandle(fit)).toOpaque()
    }
}

@_cdecl("pgsc_prepfit_release")
public func pgsc_prepfit_release(_ p: UnsafeMutableRawPointer?) {
    guard let p else { return }
    Unmanaged<ColumnFitHandle>.fromOpaque(p).release()
}

@_cdecl("pgsc_prepfit_add_null")
public func pgsc_prepfit_add_null(_ p: UnsafeMutableRawPointer) {
    ColumnFitHandle.from(p).fit.addNull()
}

@_cdecl("pgsc_prepfit_add_number")
public func pgsc_prepfit_add_number(_ p: UnsafeMutableRawPointer, _ x: Double) {
    ColumnFitHandle.from(p).fit.add(number: x)
}

@_cdecl("pgsc_prepfit_add_text")
public func pgsc_prepfit_add_text(_ p: UnsafeMutableRawPointer, _ text: UnsafePointer<CChar>?, _ len: Int64) {
    ColumnFitHandle.from(p).fit.add(text: string(text, len))
}

/// Adds the state `from` into `into`.
@_cdecl("pgsc_prepfit_merge")
public func pgsc_prepfit_merge(_ into: UnsafeMutableRawPointer, _ from: UnsafeMutableRawPointer,
                               _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guarded(err) { () throws(ScoreError) in
        try ColumnFitHandle.from(into).fit.merge(ColumnFitHandle.from(from).fit)
    }
}

/// The state's bytes into out (capacity cap); returns their count (call with cap 0 for it).
@_cdecl("pgsc_prepfit_serialize")
public func pgsc_prepfit_serialize(_ p: UnsafeMutableRawPointer, _ out: UnsafeMutablePointer<UInt8>?, _ cap: Int64) -> Int64 {
    let bytes = ColumnFitHandle.from(p).fit.serialized
    if let out, cap >= Int64(bytes.count) {
        bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: bytes.count) }
    }
    return Int64(bytes.count)
}

/// A state from bytes pgsc_prepfit_serialize wrote; PGSC_BAD_MODEL when they are damaged.
@_cdecl("pgsc_prepfit_deserialize")
public func pgsc_prepfit_deserialize(_ bytes: UnsafeRawPointer?, _ len: Int64,
                                     _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                     _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        guard let bytes, len >= 0 else { throw .badModel("the preprocessing fit state is damaged") }
        let fit = try ColumnFit(serialized: UnsafeRawBufferPointer(start: bytes, count: Int(len)))
        out.pointee = Unmanaged.passRetained(ColumnFitHandle(fit)).toOpaque()
    }
}

/// The column's result as a JSON result handle (pgsc_metrics_result_text / _release).
@_cdecl("pgsc_prepfit_result")
public func pgsc_prepfit_result(_ p: UnsafeMutableRawPointer, _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    result.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        result.pointee = Unmanaged.passRetained(MetricsResult(try ColumnFitHandle.from(p).fit.result())).toOpaque()
    }
}

/// ml._numeric_text: 1 and *value when the text is a number by the one rule, else 0.
@_cdecl("pgsc_numeric_text")
public func pgsc_numeric_text(_ text: UnsafePointer<CChar>?, _ len: Int64, _ value: UnsafeMutablePointer<Double>) -> Int32 {
    guard let d = NumericText.number(string(text, len)) else { return 0 }
    value.pointee = d
    return 1
}
