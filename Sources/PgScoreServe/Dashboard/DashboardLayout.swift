import Foundation

/// Who is looking at a dashboard page: the API key's caller, and, for a browser session,
/// the CSRF token its forms must send back (nil for `Authorization: Bearer`, which no
/// other site's page can make a browser send).
struct DashboardViewer: Sendable {
    let caller: Authenticator.Caller
    let csrf: String?

    var scope: Scope { caller.scope ?? .predict }
    var mayAct: Bool { scope.allows(.admin) }
    var mayTrain: Bool { scope.allows(.train) }
}

/// The frame around every page, and the pages that are not about a project.
enum DashboardLayout {
    static func page(title: String, viewer: DashboardViewer?, body: String) -> String {
        var out = """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">\
        <title>\(HTML.escape(title)) · pgscore</title><link rel="stylesheet" href="/dashboard/dashboard.css"></head><body>\
        <header><a href="/"><strong>pgscore</strong></a>
        """
        if let viewer {
            let key = viewer.caller.keyID.map { "key \($0)" } ?? "no key"
            out += "<span class=\"who\">\(HTML.escape(key)), scope \(HTML.escape(viewer.scope.rawValue))</span>"
            if let csrf = viewer.csrf {
                out += "<form method=\"post\" action=\"/logout\">\(csrfField(csrf))<button type=\"submit\">Log out</button></form>"
            }
        }
        out += "</header><main>\(body)</main><script src=\"/dashboard/dashboard.js\"></script></body></html>"
        return out
    }

    static func csrfField(_ token: String?) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(token ?? ""))\">"
    }

    static func login(message: String?) -> String {
        var body = "<h1>Log in</h1>"
        if let message { body += "<p class=\"message\" role=\"alert\">\(HTML.escape(message))</p>" }
        body += """
        <form method="post" action="/login">\
        <p><label for="key">API key</label> <input id="key" name="key" type="password" autocomplete="off" size="50" required></p>\
        <p><button type="submit">Log in</button></p></form>\
        <p>A key made by <code>pgscore keys create</code>; a predict-scope key may look, an admin key may also deploy, roll back and pause schedules.</p>
        """
        return page(title: "Log in", viewer: nil, body: body)
    }

    static func error(status: Int, title: String, detail: String, viewer: DashboardViewer?) -> String {
        page(title: title, viewer: viewer, body: """
            <h1>\(status) \(HTML.escape(title))</h1><p class="message" role="alert">\(HTML.escape(detail))</p><p><a href="/">All projects</a></p>
            """)
    }

    /// The confirmation step of an action: what will happen, an explicit checkbox, the CSRF token.
    static func confirm(project: String, action: DashboardAction, summary: String, viewer: DashboardViewer) -> String {
        var fields = "<input type=\"hidden\" name=\"action\" value=\"\(HTML.escape(action.name))\">"
        if let target = action.target { fields += "<input type=\"hidden\" name=\"target\" value=\"\(target)\">" }
        let body = """
        <h1>Confirm: \(HTML.escape(action.title))</h1><p>\(HTML.escape(summary))</p>\
        <form method="post" action="/projects/\(HTML.path(project))/actions">\(csrfField(viewer.csrf))\(fields)\
        <p><input type="checkbox" id="confirm" name="confirm" value="yes" required> <label for="confirm">Yes, \(HTML.escape(action.title.lowercased()))</label></p>\
        <p><button type="submit" id="do-action">\(HTML.escape(action.title))</button> <a href="/projects/\(HTML.path(project))">Cancel</a></p></form>
        """
        return page(title: action.title, viewer: viewer, body: body)
    }

    /// "2026-12-03 13:29" (UTC) for seconds since 1970 (civil-from-days arithmetic: a
    /// page writes hundreds of these, Foundation's calendar costs a page milliseconds).
    static func minute(_ epoch: Double) -> String {
        let minutes = Int((epoch / 60).rounded(.down))
        let days = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440
        let minuteOfDay = minutes - days * 1440
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(minuteOfDay / 60)):\(two(minuteOfDay % 60))"
    }
}

/// What an admin may do from the dashboard.
enum DashboardAction: Sendable {
    case deploy(version: Int)
    case rollback
    case pause(schedule: Int)
    case resume(schedule: Int)

    var name: String {
        switch self {
        case .deploy: "deploy"
        case .rollback: "rollback"
        case .pause: "pause"
        case .resume: "resume"
        }
    }

    var target: Int? {
        switch self {
        case .deploy(let n), .pause(let n), .resume(let n): n
        case .rollback: nil
        }
    }

    var title: String {
        switch self {
        case .deploy(let version): "Deploy version \(version)"
        case .rollback: "Roll back"
        case .pause(let schedule): "Pause schedule \(schedule)"
        case .resume(let schedule): "Resume schedule \(schedule)"
        }
    }

    /// From the form's (or the confirm link's) `action` and `target`; nil when they make no action.
    init?(name: String?, target: String?) {
        let number = target.flatMap { Int($0) }.flatMap { (1...Int(Int32.max)).contains($0) ? $0 : nil }
        switch (name, number) {
        case ("deploy", let n?): self = .deploy(version: n)
        case ("rollback", _): self = .rollback
        case ("pause", let n?): self = .pause(schedule: n)
        case ("resume", let n?): self = .resume(schedule: n)
        default: return nil
        }
    }

    /// A link to this action's confirmation page.
    func confirmLink(project: String, label: String) -> String {
        var href = "/projects/\(HTML.path(project))/confirm?action=\(name)"
        if let target { href += "&amp;target=\(target)" }
        return "<a class=\"action\" href=\"\(href)\">\(HTML.escape(label))</a>"
    }
}
