// libFuzzer target: bytes -> JSONValue.parse; what parses serializes to text that
// parses back to the same value, with no raw NUL or control byte in it.
import PgScoreJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let text = value.serialized
    expect(!text.utf8.contains { $0 < 0x20 }, "serialized JSON holds a raw control byte")
    guard let back = try? JSONValue.parse(text) else { fail("serialized JSON does not parse: \(text.prefix(200))") }
    expect(back == value, "JSON round trip changed the value: \(text.prefix(200))")
    expect(back.serialized == text, "serialization is not stable")
    return 0
}
