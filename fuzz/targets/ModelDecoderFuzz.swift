// libFuzzer target: bytes -> ModelCodec.decode; every value that decodes must be
// described, re-encoded to the same bytes, scored and exported (the decoder's promise,
// README "What the decoder refuses"). A broken promise traps, which libFuzzer records.
//
// The body length and CRC-64 in the header are recomputed for every input (as an
// attacker would): otherwise nearly every mutation stops at the checksum and the inner
// decoders are never reached.
import ScoreCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = resealed(Array(UnsafeRawBufferPointer(start: start, count: count)))
    guard let model = try? ModelCodec.decode(bytes) else { return 0 }
    // canonical encoding: the only bytes that decode to this model are its encoding
    expect(ModelCodec.encode(model) == bytes, "decode accepted a non-canonical encoding")
    checkDescribe(model)
    checkScoring(model)
    checkPreprocessing(model)
    checkExport(model)
    return 0
}

func checkDescribe(_ model: Model) {
    let text = model.describeJSON.serialized
    expect(!text.utf8.contains(0), "describe holds a NUL byte")
    guard let back = try? JSONValue.parse(text) else { fail("describe is not JSON: \(text.prefix(200))") }
    expect(back["features"] == .number(Double(model.featureCount)), "describe lost the feature count")
}

/// Rows of the model's width: plain, extreme, negative, and one NaN (missing for trees).
func rows(_ d: Int) -> [[Double]] {
    [[Double](repeating: 0, count: d),
     (0..<d).map { Double($0 % 7) - 3 },
     (0..<d).map { $0 % 2 == 0 ? 1e6 : -1e6 },
     [Double](repeating: 0.5, count: d).enumerated().map { $0.offset == 0 ? .nan : $0.element }]
}

func checkScoring(_ model: Model) {
    let scorer = Scorer(model)
    let d = model.featureCount
    let k = model.classes.count
    for row in rows(d) {
        row.withUnsafeBufferPointer { x in
            checkRow(scorer, model, x.baseAddress ?? UnsafePointer(bitPattern: 8)!, d, k)
        }
    }
    // a row of the wrong width is refused, never read past its end
    let short = [Double](repeating: 0, count: max(d - 1, 0))
    short.withUnsafeBufferPointer { x in
        let p = x.baseAddress ?? UnsafePointer(bitPattern: 8)!
        if (try? scorer.predict(p, count: short.count)) != nil { fail("a short row was scored") }
    }
}

func checkRow(_ scorer: Scorer, _ model: Model, _ x: UnsafePointer<Double>, _ d: Int, _ k: Int) {
    do throws(ScoreError) {
        switch try scorer.predict(x, count: d) {
        case let .value(v):
            expect(!model.isClassifier, "a classifier answered a value")
            expect(v.isFinite, "prediction \(v) is not finite")
        case let .classIndex(c):
            expect(model.isClassifier && c >= 0 && c < k, "class index \(c) of \(k)")
        }
    } catch {
        checkRefusal(error, "predict")
    }
    guard model.isClassifier else { return }
    let out = UnsafeMutablePointer<Double>.allocate(capacity: max(k, 1))
    defer { out.deallocate() }
    do throws(ScoreError) {
        try scorer.probabilities(x, count: d, into: out)
        var sum = 0.0
        for c in 0..<k {
            expect(out[c].isFinite && out[c] >= 0 && out[c] <= 1, "probability \(out[c])")
            sum += out[c]
        }
        expect(abs(sum - 1) <= 1e-9, "probabilities sum to \(sum)")
    } catch {
        checkRefusal(error, "predict_proba")
    }
}

/// Scoring a decoded model may refuse features (NaN for linear models) or overflow
/// (22003), never call the model damaged: the decoder should have said so.
func checkRefusal(_ error: ScoreError, _ what: String) {
    switch error {
    case .badValue, .outOfRange: return
    default: fail("\(what) of a decoded model: \(error)")
    }
}

func checkPreprocessing(_ model: Model) {
    let spec: Preprocessor?
    do throws(ScoreError) { spec = try model.preprocessor() } catch {
        fail("decoded model with a preprocessing it cannot read: \(error)")
    }
    guard let spec else { return }
    expect(spec.featureCount == model.featureCount, "preprocessing width")
    let scorer = Scorer(model)
    let out = UnsafeMutablePointer<Double>.allocate(capacity: max(spec.featureCount, 1))
    defer { out.deallocate() }
    for value in [Preprocessor.Value.null, .number(2.5), .text("1.5"), .text("?")] {
        do throws(ScoreError) {
            try spec.encode({ _ in value }, into: out)
            checkRow(scorer, model, out, spec.featureCount, model.classes.count)
        } catch {
            checkRefusal(error, "encode")
        }
    }
}

func checkExport(_ model: Model) {
    do throws(ScoreError) {
        let onnx = try OnnxExport.export(model)
        expect(!onnx.isEmpty, "empty ONNX file")
    } catch {
        // a documented limit (a parameter beyond float32) is a clear refusal; anything else is a broken promise
        guard case .limit = error else { fail("export of a decoded model: \(error)") }
    }
}

/// The value with its header's body length and checksum made right.
func resealed(_ value: [UInt8]) -> [UInt8] {
    guard value.count >= ModelCodec.headerSize else { return value }
    var v = value
    let length = UInt32(truncatingIfNeeded: v.count - ModelCodec.headerSize)
    let crc = v[ModelCodec.headerSize...].withUnsafeBytes { CRC64.checksum($0) }
    for i in 0..<4 { v[8 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
    for i in 0..<8 { v[16 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt64(i))) }
    return v
}
