import Foundation
import Hummingbird
import NIOCore
import PgScoreJSON
import PostgresNIO

extension Gateway {
    /// The dashboard: HTML pages at `/`, `/projects/{project}`, `/projects/{project}/versions/{version}`,
    /// with a login (API key → session cookie), and admin actions behind a confirmation
    /// page and a CSRF token. The same keys, scopes and project bindings as the JSON routes.
    func addDashboardRoutes(to router: Router<GatewayContext>) {
        router.get("/dashboard/dashboard.css") { _, _ in asset(DashboardAssets.css, type: "text/css; charset=utf-8") }
        router.get("/dashboard/dashboard.js") { _, _ in asset(DashboardAssets.script, type: "text/javascript; charset=utf-8") }

        router.get("/login") { _, _ in html(DashboardLayout.login(message: nil)) }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/logout") { request, context -> Response in
            let token = request.cookies[DashboardSessions.cookieName]?.value
            let session = token.flatMap { sessions.session($0) }
            if let session {
                let form = try await formBody(request)
                guard tokensMatch(form["csrf"], session.csrf) else {
                    return html(DashboardLayout.error(status: 403, title: "Forbidden", detail: "the form's CSRF token is missing or wrong; reload the page", viewer: nil), status: .forbidden)
                }
                sessions.close(token!)
            }
            var response = redirect("/login")
            response.headers[.setCookie] = DashboardSessions.expiredCookie(secure: secureCookies)
            return response
        }

        router.get("/") { request, context in
            try await dashboardPage(request, context, .predict) { viewer in
                let json = try await queryJSON(DashboardQueries.projects(visibleTo: viewer.caller.projects))
                return html(ProjectsPage.render(try parse(json), viewer: viewer))
            }
        }
        router.get("/projects/{project}") { request, context in
            try await dashboardPage(request, context, .predict) { viewer in
                let project = try projectName(context)
                let statement = DashboardQueries.Project(project: project, volumeSince: volumes.countFrom(project))
                let found = try await database.withConnection { connection in
                    try await PreparedOnce.rows(statement, on: connection, logger: Database.queryLogger).first
                }
                guard let json = found else {
                    throw Problem.notFound("project \"\(project)\" does not exist")
                }
                let data = try parse(json)
                let volume = volumes.merge(
                    project, counted: (data["volume"]?.arrayValue ?? []).map { ($0["t"]?.numberValue ?? 0, $0["n"]?.numberValue ?? 0) },
                    currentHour: data["hour"]?.numberValue ?? 0)
                let query = request.uri.queryParameters
                return html(ProjectPage.render(data, project: project, viewer: viewer, volume: volume,
                                               param: query.get("param"), metric: query.get("metric")))
            }
        }
        router.get("/projects/{project}/versions/{version}") { request, context in
            try await dashboardPage(request, context, .predict) { viewer in
                let project = try projectName(context)
                let version = try integerParameter("version", context, what: "version")
                guard let json = try await queryJSON(DashboardQueries.version(project, version)) else {
                    throw Problem.notFound("project \"\(project)\" has no version \(version)")
                }
                return html(VersionPage.render(try parse(json), project: project, viewer: viewer))
            }
        }
        router.get("/projects/{project}/versions/{version}/download") { request, context in
            // the export route's scope: train
            try await dashboardPage(request, context, .train) { _ in
                try await exportResponse(project: try projectName(context),
                                         version: try integerParameter("version", context, what: "version"),
                                         format: request.uri.queryParameters.get("format") ?? "onnx")
            }
        }
        router.get("/projects/{project}/confirm") { request, context in
            try await dashboardPage(request, context, .admin) { viewer in
                let project = try projectName(context)
                let query = request.uri.queryParameters
                guard let action = DashboardAction(name: query.get("action"), target: query.get("target")) else {
                    throw Problem.badRequest("action must be deploy (with target=<version>), rollback, pause or resume (with target=<schedule>)")
                }
                let deployed = try await database.withConnection { connection in
                    try await connection.firstRow("SELECT ml.deployed_version(\(project))", as: Int?.self)
                } ?? nil
                let current = deployed.map { "version \($0)" } ?? "no version"
                let summary: String
                switch action {
                case .deploy(let version):
                    summary = "Version \(version) of \(project) will serve its predictions instead of \(current). The deployment is recorded in ml.deployments."
                case .rollback:
                    summary = "\(project) will go back from \(current) to the version it replaced. The rollback is recorded in ml.deployments."
                case .pause(let schedule):
                    summary = "Schedule \(schedule) of \(project) will queue no more runs until it is resumed (runs already queued still run)."
                case .resume(let schedule):
                    summary = "Schedule \(schedule) of \(project) will queue runs again from its next slot (slots missed meanwhile are skipped)."
                }
                return html(DashboardLayout.confirm(project: project, action: action, summary: summary, viewer: viewer))
            }
        }
        router.post("/projects/{project}/actions") { request, context in
            try await dashboardPage(request, context, .admin) { viewer in
                let project = try projectName(context)
                let form = try await formBody(request)
                // a session's forms carry its CSRF token; a Bearer request comes from no form
                if let csrf = viewer.csrf, !tokensMatch(form["csrf"], csrf) {
                    throw Problem.forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
                }
                guard let action = DashboardAction(name: form["action"], target: form["target"]) else {
                    throw Problem.validation("action must be deploy (with target=<version>), rollback, pause or resume (with target=<schedule>)")
                }
                guard form["confirm"] == "yes" else {
                    throw Problem.validation("\(action.title): tick the confirmation box (confirm=yes) to go ahead")
                }
                try await perform(action, project: project, requestedBy: viewer.caller.keyName)
                return redirect("/projects/\(project)#\(action.target == nil || action.name == "deploy" ? "deployments" : "runs")")
            }
        }
    }

    /// Runs an admin action through the SQL functions that record it (ml.deploy appends
    /// to ml.deployments with the role, the reason and `requestedBy`, the key's name).
    private func perform(_ action: DashboardAction, project: String, requestedBy: String?) async throws {
        try await database.withTransaction { connection in
            switch action {
            case .deploy(let version):
                try await connection.execute("SELECT ml.deploy(\(project), 'version', \(version)::int, \(requestedBy)::text)")
            case .rollback:
                try await connection.execute("SELECT ml.deploy(\(project), 'rollback', NULL::int, \(requestedBy)::text)")
            case .pause(let schedule), .resume(let schedule):
                let known = try await connection.firstRow(
                    "SELECT 1 FROM ml.schedules WHERE id = \(schedule)::bigint AND project = \(project)", as: Int.self)
                guard known != nil else { throw Problem.notFound("project \"\(project)\" has no schedule \(schedule)") }
                if case .pause = action {
                    try await connection.execute("SELECT ml.pause_schedule(\(schedule)::bigint)")
                } else {
                    try await connection.execute("SELECT ml.resume_schedule(\(schedule)::bigint)")
                }
            }
        }
        if case .resume = action { jobs?.wake() }
    }

    /// Who asks: `Authorization: Bearer` (checked as the JSON routes check it), else the
    /// session cookie (its key looked up again: revoked keys end their sessions); nil
    /// when there is neither, or the session is gone.
    private func dashboardViewer(_ request: Request, _ context: GatewayContext, _ scope: Scope) async throws -> DashboardViewer? {
        if request.headers[.authorization] != nil {
            return DashboardViewer(caller: try await authenticator.require(scope, request, context), csrf: nil)
        }
        guard let token = request.cookies[DashboardSessions.cookieName]?.value, let session = sessions.session(token) else {
            return nil
        }
        do {
            return DashboardViewer(caller: try await authenticator.caller(keyHash: session.keyHash, scope, context), csrf: session.csrf)
        } catch let problem as Problem where problem.status == .unauthorized {
            sessions.close(token)
            return nil
        }
    }

    /// A page for a viewer with `scope`: to /login without a key or session (browsers
    /// follow it; no project data in it), errors as HTML pages with their status.
    private func dashboardPage(_ request: Request, _ context: GatewayContext, _ scope: Scope,
                               _ body: (DashboardViewer) async throws -> Response) async throws -> Response {
        do {
            guard let viewer = try await dashboardViewer(request, context, scope) else { return redirect("/login") }
            return try await body(viewer)
        } catch {
            let problem = GatewayMiddleware.problem(for: error, request: request)
            if problem.status.code >= 500 { context.logger.error("dashboard page failed", metadata: ["error": "\(String(reflecting: error))"]) }
            var response = html(DashboardLayout.error(status: problem.status.code, title: problem.title, detail: problem.detail, viewer: nil),
                                status: problem.status)
            if let retryAfter = problem.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            return response
        }
    }

    private func login(_ request: Request, _ context: GatewayContext) async throws -> Response {
        do {
            try authenticator.checkFailedLookups(context)
            let form = try await formBody(request)
            let key = (form["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard APIKey.isWellFormed(key) else {
                throw Problem.unauthorized("that is not an API key: keys start with pgs_ (pgscore keys create)")
            }
            let hash = APIKey.hash(key)
            _ = try await authenticator.caller(keyHash: hash, .predict, context)
            var response = redirect("/")
            response.headers[.setCookie] = sessions.cookie(sessions.open(keyHash: hash), secure: secureCookies)
            return response
        } catch {
            let problem = GatewayMiddleware.problem(for: error, request: request)
            return html(DashboardLayout.login(message: problem.detail), status: problem.status)
        }
    }

    /// An `application/x-www-form-urlencoded` body (at most 16 KiB): its fields, the last of each name.
    private func formBody(_ request: Request) async throws -> [String: String] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 16 * 1024)
        } catch is NIOTooManyBytesError {
            throw Problem.tooLarge(16 * 1024)
        }
        var fields: [String: String] = [:]
        for pair in String(decoding: buffer.readableBytesView, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                throw Problem.badRequest("the form is not valid application/x-www-form-urlencoded")
            }
            fields[name] = value
        }
        return fields
    }

    /// Compares in time independent of where they differ.
    private func tokensMatch(_ given: String?, _ expected: String) -> Bool {
        guard let given, given.utf8.count == expected.utf8.count else { return false }
        return zip(given.utf8, expected.utf8).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func parse(_ json: String?) throws -> JSONValue {
        do {
            return try JSONValue.parse(json ?? "null")
        } catch {
            throw Problem.internalError("the registry's JSON did not parse: \(error.message)")
        }
    }

    private func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: buffer))
    }

    private func asset(_ text: String, type: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=3600", .xContentTypeOptions: "nosniff"],
                        body: .init(byteBuffer: buffer))
    }

    private func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// Pages load only the daemon's own stylesheet and script; no framing; not cached
    /// (they show a key's data).
    private static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPFields.Element.Name("Referrer-Policy")!: "same-origin",
    ]
}
