// libFuzzer target: the preprocessing spec (the "preprocess" member of a model's info
// JSON, which describes the columns): bytes -> JSON -> Preprocessor; what is accepted
// round-trips through its JSON form and encodes rows into finite features of its width.
import ScoreCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPreprocess(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let json = try? JSONValue.parse(bytes), let spec = try? Preprocessor(json: json["preprocess"] ?? json) else { return 0 }
    guard let again = try? Preprocessor(json: spec.json) else { fail("a spec's own JSON is refused") }
    expect(again == spec, "spec JSON round trip changed it")
    expect(spec.featureNames.count == spec.featureCount, "feature names and width disagree")
    // bounded: the width is at most 1000 columns, but categories are not limited here
    guard spec.featureCount <= 100_000 else { return 0 }
    let out = UnsafeMutablePointer<Double>.allocate(capacity: max(spec.featureCount, 1))
    defer { out.deallocate() }
    let values: [Preprocessor.Value] = [.null, .number(-3), .text(" 7 "), .text("x"),
                                        .text(spec.columns.first?.categories.first ?? "")]
    for v in values {
        out.initialize(repeating: 42, count: max(spec.featureCount, 1))
        guard (try? spec.encode({ _ in v }, into: out)) != nil else { continue }
        for i in 0..<spec.featureCount where !out[i].isFinite {
            let c = spec.columns[min(i, spec.columns.count - 1)]
            expect(out[i].isNaN && spec.columns.contains { $0.keepMissing }, "feature \(i) is \(out[i]) (\(c.name))")
        }
    }
    return 0
}
