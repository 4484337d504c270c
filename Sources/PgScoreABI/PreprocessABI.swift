import ScoreCore

/// What a C preprocessor handle points at.
final class PreprocessorHandle {
    let pre: Preprocessor
    /// Column names and training types as C strings, valid until the handle is released.
    let names: [UnsafeMutableBufferPointer<CChar>]
    let types: [UnsafeMutableBufferPointer<CChar>]

    init(_ pre: Preprocessor) {
        self.pre = pre
        func cString(_ s: String) -> UnsafeMutableBufferPointer<CChar> {
            let bytes = Array(s.utf8CString)
            let b = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
            _ = b.initialize(from: bytes)
            return b
        }
        names = pre.columns.map { cString($0.name) }
        types = pre.columns.map { cString($0.sqlType) }
    }

    deinit { for n in names + types { n.deallocate() } }

    static func from(_ p: UnsafeMutableRawPointer) -> PreprocessorHandle {
        Unmanaged<PreprocessorHandle>.fromOpaque(p).takeUnretainedValue()
    }
}

/// Opens a preprocessing spec (the "preprocess" JSON object ml.train stores).
@_cdecl("pgsc_preprocessor_open")
public func pgsc_preprocessor_open(_ json: UnsafePointer<CChar>?, _ len: Int64,
                                   _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                   _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        guard let value = try? JSONValue.parse(string(json, len)) else { throw .badValue("preprocessing spec is not valid JSON") }
        out.pointee = Unmanaged.passRetained(PreprocessorHandle(try Preprocessor(json: value))).toOpaque()
    }
}

/// The preprocessing a model carries; *out is NULL when it has none (aggregate-trained).
@_cdecl("pgsc_model_preprocessor")
public func pgsc_model_preprocessor(_ model: UnsafeMutableRawPointer,
                                    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                    _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        if let pre = try ModelHandle.from(model).model.preprocessor() {
            out.pointee = Unmanaged.passRetained(PreprocessorHandle(pre)).toOpaque()
        }
    }
}

@_cdecl("pgsc_preprocessor_release")
public func pgsc_preprocessor_release(_ p: UnsafeMutableRawPointer?) {
    guard let p else { return }
    Unmanaged<PreprocessorHandle>.fromOpaque(p).release()
}

@_cdecl("pgsc_preprocessor_columns")
public func pgsc_preprocessor_columns(_ p: UnsafeMutableRawPointer) -> Int64 {
    Int64(PreprocessorHandle.from(p).pre.columns.count)
}

@_cdecl("pgsc_preprocessor_features")
public func pgsc_preprocessor_features(_ p: UnsafeMutableRawPointer) -> Int64 {
    Int64(PreprocessorHandle.from(p).pre.featureCount)
}

/// NUL-terminated name of column i (valid while the handle lives), or NULL.
@_cdecl("pgsc_preprocessor_column")
public func pgsc_preprocessor_column(_ p: UnsafeMutableRawPointer, _ i: Int64) -> UnsafePointer<CChar>? {
    let h = PreprocessorHandle.from(p)
    guard i >= 0, Int(i) < h.names.count else { return nil }
    return UnsafePointer(h.names[Int(i)].baseAddress)
}

/// NUL-terminated SQL type column i had in training ("unknown" when not recorded), or NULL.
@_cdecl("pgsc_preprocessor_column_type")
public func pgsc_preprocessor_column_type(_ p: UnsafeMutableRawPointer, _ i: Int64) -> UnsafePointer<CChar>? {
    let h = PreprocessorHandle.from(p)
    guard i >= 0, Int(i) < h.types.count else { return nil }
    return UnsafePointer(h.types[Int(i)].baseAddress)
}

/// 1 when column i is one-hot encoded (a category, which a float8[] cannot carry), 0 when
/// it is a number, -1 when i is out of range.
@_cdecl("pgsc_preprocessor_column_categorical")
public func pgsc_preprocessor_column_categorical(_ p: UnsafeMutableRawPointer, _ i: Int64) -> Int32 {
    let columns = PreprocessorHandle.from(p).pre.columns
    guard i >= 0, Int(i) < columns.count else { return -1 }
    return columns[Int(i)].kind == .categorical ? 1 : 0
}

/// Encodes one row. Per column i: kinds[i] 0 = NULL, 1 = numbers[i], 2 = texts[i]
/// (lens[i] bytes). Writes pgsc_preprocessor_features() values into out.
@_cdecl("pgsc_preprocessor_encode")
public func pgsc_preprocessor_encode(_ p: UnsafeMutableRawPointer, _ kinds: UnsafePointer<Int32>,
                                     _ numbers: UnsafePointer<Double>,
                                     _ texts: UnsafePointer<UnsafePointer<CChar>?>, _ lens: UnsafePointer<Int32>,
                                     _ out: UnsafeMutablePointer<Double>,
                                     _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    guarded(err) { () throws(ScoreError) in
        try typed { try Unmanaged<PreprocessorHandle>.fromOpaque(p)._withUnsafeGuaranteedRef { h in
            try h.pre.encode({ i in
                switch kinds[i] {
                case 1: return .number(numbers[i])
                case 2:
                    guard let t = texts[i] else { return .null }
                    return .text(String(decoding: UnsafeRawBufferPointer(start: t, count: Int(max(lens[i], 0))), as: UTF8.self))
                default: return .null
                }
            }, into: out)
        } }
    }
}

/// A copy of a model value with its info JSON replaced (ml.train attaches the
/// preprocessing and registry facts this way). The result is a model handle.
@_cdecl("pgsc_model_with_info")
public func pgsc_model_with_info(_ bytes: UnsafeRawPointer?, _ len: Int64,
                                 _ info: UnsafePointer<CChar>?, _ infoLen: Int64,
                                 _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                 _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        var model = try ModelCodec.decode(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(len)))
        let text = string(info, infoLen)
        guard case .object? = try? JSONValue.parse(text) else { throw .badValue("model info must be a JSON object") }
        model.info = text
        try ModelCodec.checkInfo(model)   // refuses a spec that does not fit the model
        try publish(model, out)
    }
}
