import ScoreCore

/// Bytes an export produced, kept until the C side has copied them out.
final class ExportBytes {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func from(_ p: UnsafeMutableRawPointer) -> ExportBytes {
        Unmanaged<ExportBytes>.fromOpaque(p).takeUnretainedValue()
    }
}

/// The ONNX file of a model (OnnxExport). *out is an export handle: read its size
/// with pgsc_export_size, copy it with pgsc_export_copy, then pgsc_export_release it.
@_cdecl("pgsc_model_export_onnx")
public func pgsc_model_export_onnx(_ model: UnsafeMutableRawPointer,
                                   _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                   _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let bytes = try OnnxExport.export(ModelHandle.from(model).model)
        out.pointee = Unmanaged.passRetained(ExportBytes(bytes)).toOpaque()
    }
}

@_cdecl("pgsc_export_size")
public func pgsc_export_size(_ p: UnsafeMutableRawPointer) -> Int64 {
    Int64(ExportBytes.from(p).bytes.count)
}

/// Copies pgsc_export_size() bytes to dst.
@_cdecl("pgsc_export_copy")
public func pgsc_export_copy(_ p: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer) {
    ExportBytes.from(p).bytes.withUnsafeBytes { src in
        if let base = src.baseAddress { dst.copyMemory(from: base, byteCount: src.count) }
    }
}

@_cdecl("pgsc_export_release")
public func pgsc_export_release(_ p: UnsafeMutableRawPointer?) {
    guard let p else { return }
    Unmanaged<ExportBytes>.fromOpaque(p).release()
}
