import ScoreCore

// Status codes: keep in sync with extension/include/pgscore_abi.h.
let statusOK: Int32 = 0

extension ScoreError {
    var status: Int32 {
        switch self {
        case .interrupted: return 1
        case .badValue: return 2
        case .badShape: return 3
        case .unfitData: return 4
        case .badModel: return 5
        case .newerFormat: return 6
        case .limit: return 7
        case .outOfRange: return 8
        }
    }
}

/// The C side hands us PGSC_ERRBUF bytes; we write "message\0hint\0", truncating.
let errorBufferSize = 1024

func report(_ error: ScoreError, _ buffer: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let buffer else { return error.status }
    var at = 0
    for part in [error.message, error.hint] {
        let room = errorBufferSize - at - 1
        var written = 0
        for byte in part.utf8 where written < room / 2 || (part == error.message && written < room - 64) {
            buffer[at + written] = CChar(bitPattern: byte)
            written += 1
        }
        buffer[at + written] = 0
        at += written + 1
        if at >= errorBufferSize - 1 { break }
    }
    if at < errorBufferSize { buffer[min(at, errorBufferSize - 1)] = 0 }
    return error.status
}

/// Runs `body`, turning a thrown ScoreError into its status and message.
func guarded(_ err: UnsafeMutablePointer<CChar>?, _ body: () throws(ScoreError) -> Void) -> Int32 {
    do {
        try body()
        return statusOK
    } catch {
        return report(error, err)
    }
}

func string(_ p: UnsafePointer<CChar>?, _ len: Int64) -> String {
    guard let p, len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(len)), as: UTF8.self)
}
