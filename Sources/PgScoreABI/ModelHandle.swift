import ScoreCore

/// What a C model handle points at: the decoded model, its scorer, and byte buffers
/// (labels, describe JSON, encoded form) that stay valid until the handle is released.
final class ModelHandle {
    let scorer: Scorer
    var model: Model { scorer.model }
    let labelBytes: UnsafeMutableBufferPointer<UInt8>
    let labelOffsets: [Int]
    private(set) var encoded: [UInt8]?
    private var describeBytes: UnsafeMutableBufferPointer<UInt8>?

    init(_ model: Model, encoded: [UInt8]? = nil) {
        scorer = Scorer(model)
        self.encoded = encoded
        var offsets = [0]
        var all: [UInt8] = []
        for c in model.classes {
            all += c
            offsets.append(all.count)
        }
        labelOffsets = offsets
        labelBytes = .allocate(capacity: max(all.count, 1))
        _ = labelBytes.initialize(from: all)
    }

    deinit {
        labelBytes.deallocate()
        describeBytes?.deallocate()
    }

    var encodedBytes: [UInt8] {
        if let encoded { return encoded }
        let e = ModelCodec.encode(model)
        encoded = e
        return e
    }

    var describe: UnsafeMutableBufferPointer<UInt8> {
        if let describeBytes { return describeBytes }
        let text = Array(model.describeJSON.serialized.utf8)
        let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: text.count)
        _ = b.initialize(from: text)
        describeBytes = b
        return b
    }

    func retainedPointer() -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(self).toOpaque()
    }

    static func from(_ p: UnsafeMutableRawPointer) -> ModelHandle {
        Unmanaged<ModelHandle>.fromOpaque(p).takeUnretainedValue()
    }
}

/// Bytes of a model value's header (magic, format, body length, checksum).
@_cdecl("pgsc_model_identity_size")
public func pgsc_model_identity_size() -> Int64 {
    Int64(ModelCodec.headerSize)
}

/// Most features (which 0) or classes (which 1) a model may have (ModelCodec).
@_cdecl("pgsc_model_limit")
public func pgsc_model_limit(_ which: Int32) -> Int64 {
    Int64(which == 0 ? ModelCodec.maxFeatures : ModelCodec.maxClasses)
}

@_cdecl("pgsc_model_open")
public func pgsc_model_open(_ bytes: UnsafeRawPointer?, _ len: Int64,
                            _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                            _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let model = try ModelCodec.decode(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(len)))
        out.pointee = ModelHandle(model).retainedPointer()
    }
}

@_cdecl("pgsc_model_release")
public func pgsc_model_release(_ p: UnsafeMutableRawPointer?) {
    guard let p else { return }
    Unmanaged<ModelHandle>.fromOpaque(p).release()
}

@_cdecl("pgsc_model_encoded_size")
public func pgsc_model_encoded_size(_ p: UnsafeMutableRawPointer) -> Int64 {
    Int64(ModelHandle.from(p).encodedBytes.count)
}

@_cdecl("pgsc_model_encode")
public func pgsc_model_encode(_ p: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer) {
    ModelHandle.from(p).encodedBytes.withUnsafeBytes { src in
        dst.copyMemory(from: src.baseAddress!, byteCount: src.count)
    }
}

/// Fills info[0..<5]: algorithm, label kind, features, classes, training rows.
@_cdecl("pgsc_model_info")
public func pgsc_model_info(_ p: UnsafeMutableRawPointer, _ info: UnsafeMutablePointer<Int64>) {
    let m = ModelHandle.from(p).model
    info[0] = Int64(m.algorithm.rawValue)
    info[1] = Int64(m.labelKind.rawValue)
    info[2] = Int64(m.featureCount)
    info[3] = Int64(m.classes.count)
    info[4] = Int64(m.trainingRows)
}

@_cdecl("pgsc_model_class_label")
public func pgsc_model_class_label(_ p: UnsafeMutableRawPointer, _ index: Int64,
                                   _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                                   _ len: UnsafeMutablePointer<Int64>) -> Int32 {
    let h = ModelHandle.from(p)
    let i = Int(index)
    guard i >= 0, i + 1 < h.labelOffsets.count else { return 3 }
    let start = h.labelOffsets[i]
    label.pointee = UnsafeRawPointer(h.labelBytes.baseAddress! + start).assumingMemoryBound(to: CChar.self)
    len.pointee = Int64(h.labelOffsets[i + 1] - start)
    return statusOK
}

@_cdecl("pgsc_model_describe")
public func pgsc_model_describe(_ p: UnsafeMutableRawPointer,
                                _ json: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                                _ len: UnsafeMutablePointer<Int64>) {
    let b = ModelHandle.from(p).describe
    json.pointee = UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self)
    len.pointee = Int64(b.count)
}
