/// libpq's multi-host connection settings: several servers tried in order, and which
/// kind of session is wanted on the one taken (`target_session_attrs`), so that the
/// daemon can be pointed at every node of a replicated setup and follow the primary.
extension DatabaseURL {
    /// One server of the host list: a host name or address, or (starting with `/`) a
    /// Unix socket directory, and its port.
    struct Endpoint: Equatable, Sendable, CustomStringConvertible {
        var host: String
        var port: Int

        var description: String {
            host.hasPrefix("/") ? (host.hasSuffix("/") ? host : host + "/") + ".s.PGSQL.\(port)"
                : host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// libpq's `target_session_attrs`: what a server must be for its session to be used.
    enum TargetSessionAttrs: String, Sendable, CaseIterable {
        case any
        case readWrite = "read-write"
        case readOnly = "read-only"
        case primary, standby
        case preferStandby = "prefer-standby"

        static func parse(_ text: String) throws -> Self {
            guard let attrs = Self(rawValue: text) else {
                throw ParseError(description: "target_session_attrs must be \(allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
            }
            return attrs
        }

        /// Whether a server in this state fits; `lenient` is prefer-standby's second pass
        /// (no standby answered: any server does).
        func accepts(readOnly: Bool, inRecovery: Bool, lenient: Bool = false) -> Bool {
            switch self {
            case .any: return true
            case .readWrite: return !readOnly
            case .readOnly: return readOnly
            case .primary: return !inRecovery
            case .standby: return inRecovery
            case .preferStandby: return lenient || inRecovery
            }
        }

        /// What a refused server was not, for messages.
        var wanted: String {
            switch self {
            case .any, .preferStandby: return "a server"
            case .readWrite: return "a server that takes writes"
            case .readOnly: return "a read-only server"
            case .primary: return "a primary (not in recovery)"
            case .standby: return "a standby (in recovery)"
            }
        }
    }

    /// A comma-separated host list (`h1:p1,[::1]:p2,h3` in a URL's authority, or a
    /// `host=`/PGHOST value without ports): each host and its port if it gave one.
    static func parseHostList(_ text: String, portsAllowed: Bool) throws -> [(host: String, port: Int?)] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { raw -> (String, Int?) in
            let entry = String(raw)
            guard !entry.isEmpty else {
                throw ParseError(description: "the host list \"\(text)\" has an empty entry")
            }
            guard portsAllowed, !entry.hasPrefix("/") else { return (entry, nil) }
            var host = entry, portText: Substring?
            if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
                host = String(entry[entry.index(after: entry.startIndex)..<close])
                let rest = entry[entry.index(after: close)...]
                if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty {
                    throw ParseError(description: "cannot read the host \"\(entry)\"")
                }
            } else if let colon = entry.lastIndex(of: ":") {
                host = String(entry[..<colon])
                portText = entry[entry.index(after: colon)...]
            }
            host = host.removingPercentEncoding ?? host
            guard let portText else { return (host, nil) }
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw ParseError(description: "port must be a number 1...65535, got \"\(portText)\" in \"\(entry)\"")
            }
            return (host, port)
        }
    }

    /// The endpoints of `hosts` with the ports of a `port=`/PGPORT list (one port for
    /// all, or one per host, as libpq takes them); a host's own port comes first.
    static func endpoints(_ hosts: [(host: String, port: Int?)], ports portList: String?) throws -> [Endpoint] {
        var ports: [Int] = []
        if let portList, !portList.isEmpty {
            ports = try portList.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let port = Int($0), (1...65535).contains(port) else {
                    throw ParseError(description: "port must be a number 1...65535, got \"\($0)\"")
                }
                return port
            }
            guard ports.count == 1 || ports.count == hosts.count else {
                throw ParseError(description: "\(ports.count) ports for \(hosts.count) hosts: give one port, or one per host")
            }
        }
        return hosts.enumerated().map { index, entry in
            Endpoint(host: entry.host, port: entry.port ?? (ports.isEmpty ? 5432 : ports[ports.count == 1 ? 0 : index]))
        }
    }

    /// The authority of a `postgres://` URL split off: its user part (with the `@`) and
    /// its host list, and the URL with one placeholder host in their place, which
    /// URLComponents can read (it takes a single host only).
    static func splitAuthority(_ text: String) -> (url: String, hostList: String)? {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostList = String(authority[hostStart...])
        let placeholder = hostList.isEmpty ? "" : "placeholder"
        return (String(text[..<hostStart]) + placeholder + String(rest[authorityEnd...]), hostList)
    }
}
