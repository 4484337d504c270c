import PgScoreJSON
import ScoreCore

/// What a C fit-state handle points at: a decoded pass fit, the point its evaluation pass
/// evaluates at, and the bytes C copies out (encoded state, info JSON), valid until release.
final class PassFitHandle {
    let fit: LogisticPassFit
    let point: [Double]
    private var buffers: [UnsafeMutableBufferPointer<UInt8>] = []
    private var labelStarts: [Int] = []
    private(set) lazy var encodedBytes: UnsafeMutableBufferPointer<UInt8> = keep(fit.encode())
    private(set) lazy var infoBytes: UnsafeMutableBufferPointer<UInt8> = keep(Array(infoJSON.serialized.utf8))
    private lazy var labelBytes: UnsafeMutableBufferPointer<UInt8> = {
        var all: [UInt8] = []
        for c in fit.classes {
            labelStarts.append(all.count)
            all += c
        }
        return keep(all)
    }()

    init(_ fit: LogisticPassFit) {
        self.fit = fit
        point = fit.point
    }

    deinit { for b in buffers { b.deallocate() } }

    private func keep(_ bytes: [UInt8]) -> UnsafeMutableBufferPointer<UInt8> {
        let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        _ = b.initialize(from: bytes)
        buffers.append(b)
        return b
    }

    func label(_ i: Int) -> UnsafePointer<CChar> {
        let base = labelBytes.baseAddress!
        return UnsafeRawPointer(base + labelStarts[i]).assumingMemoryBound(to: CChar.self)
    }

    var infoJSON: JSONValue {
        var members: [(String, JSONValue)] = [
            ("phase", .string(fit.phase == .moments ? "moments" : fit.phase == .evaluate ? "evaluate" : "done")),
            ("passes", .number(Double(fit.passes))),
        ]
        if fit.phase != .moments {
            members += [("rows", .number(Double(fit.rows))), ("features", .number(Double(fit.featureCount))),
                        ("classes", .number(Double(fit.classCount))), ("iteration", .number(Double(fit.iteration)))]
        }
        if let loss = fit.loss { members.append(("loss", .number(loss))) }
        return .object(members)
    }

    func retainedPointer() -> UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }
    static func from(_ p: UnsafeMutableRawPointer) -> PassFitHandle { Unmanaged<PassFitHandle>.fromOpaque(p).takeUnretainedValue() }
}

@_cdecl("pgsc_logreg_start")
public func pgsc_logreg_start(_ options: UnsafePointer<CChar>?, _ len: Int64,
                              _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                              _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        out.pointee = PassFitHandle(try LogisticPassFit(options: string(options, len))).retainedPointer()
    }
}

/// Decodes a fit state. phase: 0 moments, 1 evaluate, 2 done; sums: doubles an evaluation
/// pass adds into; skipNulls: the options' {"nulls": "skip"}.
@_cdecl("pgsc_logreg_open")
public func pgsc_logreg_open(_ bytes: UnsafeRawPointer?, _ len: Int64,
                             _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                             _ phase: UnsafeMutablePointer<Int32>, _ features: UnsafeMutablePointer<Int64>,
                             _ classes: UnsafeMutablePointer<Int64>, _ sums: UnsafeMutablePointer<Int64>,
                             _ skipNulls: UnsafeMutablePointer<Int32>,
                             _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        let fit = try LogisticPassFit.decode(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(len)))
        phase.pointee = Int32(fit.phase.rawValue)
        features.pointee = Int64(fit.featureCount)
        classes.pointee = Int64(fit.classCount)
        sums.pointee = fit.phase == .evaluate ? Int64(fit.sumCount) : 0
        skipNulls.pointee = fit.options.skipNullFeatures ? 1 : 0
        out.pointee = PassFitHandle(fit).retainedPointer()
    }
}

/// The label kind (PGSC_LABEL_*) pass 0 saw; -1 before.
@_cdecl("pgsc_logreg_label_kind")
public func pgsc_logreg_label_kind(_ h: UnsafeMutableRawPointer) -> Int32 {
    let fit = PassFitHandle.from(h).fit
    return fit.phase == .moments ? -1 : Int32(fit.labelKind.rawValue)
}

@_cdecl("pgsc_logreg_release")
public func pgsc_logreg_release(_ h: UnsafeMutableRawPointer?) {
    guard let h else { return }
    Unmanaged<PassFitHandle>.fromOpaque(h).release()
}

/// Class `index` (sorted order) as the model stores it: "true"/"false", decimal integer, text.
@_cdecl("pgsc_logreg_class")
public func pgsc_logreg_class(_ h: UnsafeMutableRawPointer, _ index: Int64,
                              _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>,
                              _ len: UnsafeMutablePointer<Int64>) -> Int32 {
    let handle = PassFitHandle.from(h)
    guard index >= 0, index < handle.fit.classCount else { return ScoreError.outOfRange("class \(index)").status }
    len.pointee = Int64(handle.fit.classes[Int(index)].count)
    label.pointee = handle.label(Int(index))
    return statusOK
}

/// Adds rows (class indexes in sorted order) into an evaluation pass's sums.
@_cdecl("pgsc_logreg_add")
public func pgsc_logreg_add(_ h: UnsafeMutableRawPointer, _ x: UnsafePointer<Double>, _ classes: UnsafePointer<Int32>,
                            _ rows: Int64, _ sums: UnsafeMutablePointer<Double>,
                            _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    let handle = PassFitHandle.from(h)
    return guarded(err) { () throws(ScoreError) in
        try handle.fit.accumulate(x, classes: classes, rows: Int(rows), point: handle.point, into: sums)
    }
}

/// Ends pass 0: per-class moment blocks in sorted class order, their labels. Out: a new handle.
@_cdecl("pgsc_logreg_after_moments")
public func pgsc_logreg_after_moments(_ h: UnsafeMutableRawPointer,
                                      _ classMoments: UnsafePointer<UnsafePointer<Double>?>, _ classes: Int64,
                                      _ features: Int64, _ kind: Int32,
                                      _ labelPtrs: UnsafePointer<UnsafePointer<CChar>?>?, _ labelLens: UnsafePointer<Int32>?,
                                      _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                      _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        var fit = PassFitHandle.from(h).fit
        var blocks: [UnsafePointer<Double>] = []
        for c in 0..<Int(classes) {
            guard let p = classMoments[c] else { throw .badValue("class \(c + 1) has no moments") }
            blocks.append(p)
        }
        try fit.finishMoments(perClass: blocks, featureCount: Int(features), labelKind: try labelKind(kind),
                              classes: labels(labelPtrs, labelLens, Int(classes)))
        out.pointee = PassFitHandle(fit).retainedPointer()
    }
}

/// Ends an evaluation pass: its sums (count doubles) over `rows` rows. Out: a new handle.
@_cdecl("pgsc_logreg_after_evaluation")
public func pgsc_logreg_after_evaluation(_ h: UnsafeMutableRawPointer, _ sums: UnsafePointer<Double>, _ count: Int64,
                                         _ rows: Int64, _ stop: (@convention(c) () -> Int32)?,
                                         _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                         _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        var fit = PassFitHandle.from(h).fit
        try fit.finishEvaluation(Array(UnsafeBufferPointer(start: sums, count: Int(count))), rows: Int(rows),
                                 stop: { stop.map { $0() != 0 } ?? false })
        out.pointee = PassFitHandle(fit).retainedPointer()
    }
}

func expose(_ buffer: UnsafeMutableBufferPointer<UInt8>, _ bytes: UnsafeMutablePointer<UnsafeRawPointer?>,
            _ len: UnsafeMutablePointer<Int64>) {
    len.pointee = Int64(buffer.count)
    bytes.pointee = UnsafeRawPointer(buffer.baseAddress!)
}

/// The encoded fit state of a handle (valid until release).
@_cdecl("pgsc_logreg_bytes")
public func pgsc_logreg_bytes(_ h: UnsafeMutableRawPointer, _ bytes: UnsafeMutablePointer<UnsafeRawPointer?>,
                              _ len: UnsafeMutablePointer<Int64>) {
    expose(PassFitHandle.from(h).encodedBytes, bytes, len)
}

/// Phase, passes, iteration, rows, loss as JSON text (valid until release).
@_cdecl("pgsc_logreg_info")
public func pgsc_logreg_info(_ h: UnsafeMutableRawPointer, _ json: UnsafeMutablePointer<UnsafeRawPointer?>,
                             _ len: UnsafeMutablePointer<Int64>) {
    expose(PassFitHandle.from(h).infoBytes, json, len)
}

/// The model of a finished fit (a model handle, as the training aggregates return).
@_cdecl("pgsc_logreg_model")
public func pgsc_logreg_model(_ h: UnsafeMutableRawPointer, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                              _ err: UnsafeMutablePointer<CChar>?) -> Int32 {
    out.pointee = nil
    return guarded(err) { () throws(ScoreError) in
        try publish(try PassFitHandle.from(h).fit.model(), out)
    }
}
