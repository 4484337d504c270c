#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libpq's password file: `PGPASSFILE`, else `~/.pgpass`; lines
/// `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape,
/// `#` starts a comment line; the first matching line wins. As libpq, a file that
/// others can read or write is ignored with a warning on stderr, and a connection over
/// a Unix socket matches the host `localhost`.
enum PassFile {
    static func password(for url: DatabaseURL, environment env: [String: String]) -> String? {
        let path = env["PGPASSFILE"] ?? ((env["HOME"] ?? "") + "/.pgpass")
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        if info.st_mode & (S_IRWXG | S_IRWXO) != 0 {
            warn("WARNING: password file \"\(path)\" has group or world access; permissions should be u=rw (0600) or less; it is ignored")
            return nil
        }
        guard let text = read(path) else { return nil }
        let host = url.isUnixSocket ? "localhost" : url.host
        let wanted = [host, String(url.port), url.database, url.username]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) where !line.hasPrefix("#") {
            let fields = split(line)
            guard fields.count == 5 else { continue }
            if zip(fields.prefix(4), wanted).allSatisfy({ $0.wildcard || $0.value == $1 }) { return fields[4].value }
        }
        return nil
    }

    /// The fields of a line, unescaped; a field is the wildcard only when written as a
    /// bare `*` (libpq looks for it before unescaping: `\*` is a literal star).
    static func split(_ line: Substring) -> [(value: String, wildcard: Bool)] {
        var fields: [(value: String, wildcard: Bool)] = []
        var current = ""
        var escaped = false
        var raw = 0
        for character in line {
            raw += 1
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append((current, raw == 2 && current == "*"))
                current = ""
                raw = 0
            } else {
                current.append(character)
            }
        }
        fields.append((current, raw == 1 && current == "*"))
        return fields
    }

    private static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func warn(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
