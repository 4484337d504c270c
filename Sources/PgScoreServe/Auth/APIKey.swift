import Crypto

/// What a key may do. Scopes nest: an `admin` key may do what a `train` key may, and a
/// `train` key what a `predict` key may.
enum Scope: String, Sendable, CaseIterable, Comparable {
    /// score, send feedback, read projects and versions
    case predict
    /// also train, read training runs, export versions
    case train
    /// also deploy and roll back
    case admin

    private var rank: Int {
        switch self {
        case .predict: 0
        case .train: 1
        case .admin: 2
        }
    }

    static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rank < rhs.rank }

    func allows(_ needed: Scope) -> Bool { self >= needed }
}

/// API keys: `pgs_` and 43 characters of base64url (32 random bytes). The database keeps
/// only their SHA-256, so a dump or a log of `ml.api_keys` gives no usable key.
enum APIKey {
    static let prefix = "pgs_"

    static func generate() -> String { prefix + randomToken() }

    /// 32 random bytes in base64url (43 characters): keys, dashboard sessions, CSRF tokens.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()   // getrandom(2) on Linux
        return base64URL((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Lowercase hex SHA-256 of the key's UTF-8 bytes: what `ml.api_keys.key_hash` holds.
    static func hash(_ key: String) -> String {
        let digest = SHA256.hash(data: Array(key.utf8))
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Whether `text` can be a key at all (checked before any database look-up).
    static func isWellFormed(_ text: some StringProtocol) -> Bool {
        guard text.hasPrefix(prefix), text.utf8.count <= 128 else { return false }
        let body = text.utf8.dropFirst(prefix.utf8.count)
        return body.count >= 16 && body.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
