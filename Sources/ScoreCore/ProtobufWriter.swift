/// The Protocol Buffers wire format, writing side only: what an ONNX file needs.
///
/// A message is a sequence of fields, each a key varint (field number << 3 | wire type)
/// followed by the value: a varint, 4 or 8 little-endian bytes, or a varint length and
/// that many bytes (strings, bytes, nested messages, packed repeated numbers).
/// Fields with default values may be omitted; repeated fields are written in order.
public struct ProtobufWriter: Sendable {
    public enum WireType: UInt8, Sendable {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    public private(set) var bytes: [UInt8] = []

    public init() {}

    // MARK: raw pieces

    /// Base-128 varint: 7 bits a byte, least significant group first, high bit = more.
    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func key(_ field: Int, _ wire: WireType) {
        precondition(field >= 1 && field < (1 << 29), "protobuf field number out of range")
        varint(UInt64(field) << 3 | UInt64(wire.rawValue))
    }

    public mutating func fixed32(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }

    // MARK: fields

    /// int32/int64/enum/bool fields. Negative numbers take ten bytes (two's complement
    /// of 64 bits), as protobuf specifies for int32 and int64.
    public mutating func int(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        fixed32(value.bitPattern)
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes += value
    }

    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    /// A nested message, built by `body` into its own writer and written length-prefixed.
    public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var sub = ProtobufWriter()
        body(&sub)
        bytes(field, sub.bytes)
    }

    /// A packed repeated float field (one length-delimited run of 4-byte values).
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        key(field, .lengthDelimited)
        varint(UInt64(values.count * 4))
        for v in values { fixed32(v.bitPattern) }
    }

    /// A packed repeated int64 field (one length-delimited run of varints).
    public mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var run = ProtobufWriter()
        for v in values { run.varint(UInt64(bitPattern: v)) }
        bytes(field, run.bytes)
    }
}
