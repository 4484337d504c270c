/// CRC-64/XZ (ECMA-182 polynomial, reflected): the model checksum. It catches every
/// burst error up to 64 bits, but only accidents: anyone can recompute it, so it never
/// identifies a model (caches compare the bytes) and never vouches for a value.
public enum CRC64 {
    static let table: [UInt64] = (0..<256).map { i -> UInt64 in
        var c = UInt64(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xC96C_5795_D787_0F42 : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc: UInt64 = ~0
        table.withUnsafeBufferPointer { t in
            for b in bytes { crc = t[Int((crc ^ UInt64(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
