import PgScoreJSON

/// `/projects/{name}`: versions side by side, the metric-against-hyperparameter chart, the
/// deployment timeline, live evaluations, drift, prediction volume, runs, schedules and
/// monitor actions.
enum ProjectPage {
    /// `param` / `metric`: the compare chart's axes (query parameters), else the first
    /// numeric hyperparameter that varies and the key metric.
    /// `volume`: predictions per hour (``PredictionVolumeCache``).
    static func render(_ data: JSONValue, project: String, viewer: DashboardViewer, volume: [(hour: Double, count: Double)],
                       param: String?, metric: String?) -> String {
        let overview = data["overview"] ?? .null
        let versions = data["versions"]?.arrayValue ?? []
        let deployed = overview["deployed_version"]?.numberValue.map { Int($0) }
        var body = "<p><a href=\"/\">All projects</a></p><h1>Project \(HTML.escape(project))</h1>"
        body += "<p>Task \(HTML.value(overview["task"])), deploy policy \(HTML.value(overview["deploy_policy"])), "
        body += "deployed version <strong id=\"deployed-version\">\(HTML.number(deployed.map(Double.init)))</strong>"
        body += " (\(HTML.value(overview["deployed_algorithm"])), \(HTML.value(overview["key_metric"])) \(HTML.value(overview["deployed_score"])), since \(HTML.time(overview["deployed_at"])))."
        if viewer.mayAct && deployed != nil {
            body += " " + DashboardAction.rollback.confirmLink(project: project, label: "Roll back…")
        }
        body += "</p>"
        body += versionsSection(versions, project: project, deployed: deployed, viewer: viewer)
        body += compareSection(versions, project: project, param: param, metric: metric ?? overview["key_metric"]?.stringValue)
        body += deploymentsSection(data["deployments"]?.arrayValue ?? [])
        body += liveSection(data["evaluations"]?.arrayValue ?? [], monitor: data["monitor"])
        body += driftSection(data["drift"]?.arrayValue ?? [], history: data["drift_history"]?.arrayValue ?? [])
        body += volumeSection(volume)
        body += runsSection(data["runs"]?.arrayValue ?? [], schedules: data["schedules"]?.arrayValue ?? [], project: project, viewer: viewer)
        body += actionsSection(data["actions"]?.arrayValue ?? [])
        return DashboardLayout.page(title: project, viewer: viewer, body: body)
    }

    /// Metric names over all versions, in a stable order (the key metrics first).
    static func metricNames(_ versions: [JSONValue]) -> [String] {
        var names: [String] = []
        for version in versions {
            for (name, _) in version["metrics"]?.members ?? [] where !names.contains(name) { names.append(name) }
        }
        let first = ["accuracy", "f1", "roc_auc", "log_loss", "precision", "recall", "r2", "rmse", "mae"]
        return first.filter(names.contains) + names.filter { !first.contains($0) }.sorted()
    }

    private static func versionsSection(_ versions: [JSONValue], project: String, deployed: Int?, viewer: DashboardViewer) -> String {
        let metrics = metricNames(versions)
        var headers = ["Version", "Deployed", "Algorithm"] + metrics.map(HTML.escape)
        headers += ["Hyperparameters", "Train rows", "Test rows", "Duration (ms)", "Trained by", "Trained at"]
        if viewer.mayAct { headers.append("Action") }
        var rows: [[String]] = []
        var attributes: [String] = []
        for version in versions {
            let number = Int(version["version"]?.numberValue ?? 0)
            let isDeployed = number == deployed
            var row = ["<a href=\"/projects/\(HTML.path(project))/versions/\(number)\">\(number)</a>",
                       isDeployed ? "<span class=\"ok\">● deployed</span>" : "", HTML.value(version["algorithm"])]
            row += metrics.map { HTML.value(version["metrics"]?[$0]) }
            row.append((version["hyperparams"]?.members ?? []).map { "\(HTML.escape($0.0))=\(HTML.value($0.1))" }.joined(separator: ", "))
            row += [HTML.value(version["train_rows"]), HTML.value(version["test_rows"]), HTML.value(version["duration_ms"]),
                    HTML.value(version["created_by"]), HTML.time(version["created_at"])]
            if viewer.mayAct {
                row.append(isDeployed ? "" : DashboardAction.deploy(version: number).confirmLink(project: project, label: "Deploy…"))
            }
            rows.append(row)
            attributes.append("data-version=\"\(number)\"" + (isDeployed ? " class=\"deployed\"" : ""))
        }
        return "<h2 id=\"versions\">Versions</h2>" + HTML.table(
            caption: "\(versions.count) versions, test-split metrics (click a column to sort)", headers: headers, rows: rows,
            id: "versions-table", sortable: true, rowAttributes: attributes)
    }

    /// MLflow's compare view: one metric against one numeric hyperparameter across versions.
    private static func compareSection(_ versions: [JSONValue], project: String, param: String?, metric: String?) -> String {
        var params: [String] = []
        for version in versions {
            for (name, value) in version["hyperparams"]?.members ?? [] where value.numberValue != nil && !params.contains(name) {
                params.append(name)
            }
        }
        params.sort()
        let metrics = metricNames(versions)
        var out = "<h2 id=\"compare\">Metric against a hyperparameter</h2>"
        guard !params.isEmpty, !metrics.isEmpty else { return out + "<p class=\"empty\">No numeric hyperparameters to compare.</p>" }
        let varying = params.first { name in Set(versions.compactMap { $0["hyperparams"]?[name]?.numberValue }).count > 1 }
        let x = param.flatMap { params.contains($0) ? $0 : nil } ?? varying ?? params[0]
        let y = metric.flatMap { metrics.contains($0) ? $0 : nil } ?? metrics[0]
        func options(_ names: [String], _ chosen: String) -> String {
            names.map { "<option\($0 == chosen ? " selected" : "")>\(HTML.escape($0))</option>" }.joined()
        }
        out += """
        <form method="get" action="/projects/\(HTML.path(project))#compare"><label for="param">Hyperparameter</label> \
        <select id="param" name="param">\(options(params, x))</select> <label for="metric">Metric</label> \
        <select id="metric" name="metric">\(options(metrics, y))</select> <button type="submit">Show</button></form>
        """
        let points = versions.compactMap { version -> (x: Double, y: Double)? in
            guard let px = version["hyperparams"]?[x]?.numberValue, let py = version["metrics"]?[y]?.numberValue else { return nil }
            return (px, py)
        }
        return out + SVGChart.line(id: "compare-chart", title: "\(y) against \(x), one point per version",
                                   series: [.init(name: "versions", points: points)], xName: x, yName: y,
                                   xText: { HTML.number($0) })
    }

    private static func deploymentsSection(_ deployments: [JSONValue]) -> String {
        let rows = deployments.map { d in
            [HTML.time(d["deployed_at"]), HTML.value(d["version"]), HTML.value(d["strategy"]), HTML.value(d["replaced_version"]),
             who(d), HTML.value(d["reason"])]
        }
        return "<h2 id=\"deployments\">Deployment timeline</h2>" + HTML.table(
            caption: "Latest \(DashboardQueries.listLimit) deployments, newest first (ml.deployments)",
            headers: ["When", "Version", "Strategy", "Replaced version", "Who", "Reason"], rows: rows, id: "deployments-table")
    }

    /// The role that deployed, or "key <name> via <role>" when the daemon's role deployed
    /// for one of its API keys (ml.deployments.requested_by).
    static func who(_ deployment: JSONValue) -> String {
        let role = HTML.value(deployment["deployed_by"])
        guard let key = deployment["requested_by"]?.stringValue, key != deployment["deployed_by"]?.stringValue else { return role }
        return "key <strong>\(HTML.escape(key))</strong> via \(role)"
    }

    private static func liveSection(_ evaluations: [JSONValue], monitor: JSONValue?) -> String {
        var out = "<h2 id=\"live\">Live accuracy</h2>"
        if let monitor, monitor != .null {
            out += "<p>Monitor: window \(HTML.value(monitor["window"])), action \(HTML.value(monitor["action"])), max drop \(HTML.value(monitor["max_drop"])), minimum score \(HTML.value(monitor["min_score"])), drift threshold \(HTML.value(monitor["drift_threshold"])).</p>"
        } else {
            out += "<p class=\"empty\">No monitor (ml.monitor) on this project.</p>"
        }
        var byVersion: [(Int, [(x: Double, y: Double)])] = []
        var baselines: [Int: Double] = [:]
        for e in evaluations {
            guard let t = e["t"]?.numberValue, let value = e["value"]?.numberValue else { continue }
            let version = Int(e["version"]?.numberValue ?? 0)
            if let index = byVersion.firstIndex(where: { $0.0 == version }) {
                byVersion[index].1.append((t, value))
            } else {
                byVersion.append((version, [(t, value)]))
            }
            if let baseline = e["baseline"]?.numberValue { baselines[version] = baseline }
        }
        let metric = evaluations.last?["metric"]?.stringValue ?? "accuracy"
        var rules = baselines.sorted { $0.key < $1.key }.map { SVGChart.Rule(label: "v\($0.key) test score", y: $0.value, kind: "baseline") }
        if let threshold = evaluations.last(where: { $0["threshold"]?.numberValue != nil })?["threshold"]?.numberValue {
            rules.append(.init(label: "threshold", y: threshold, kind: "threshold"))
        }
        out += SVGChart.line(id: "live-chart", title: "Live \(metric) per window and version (latest \(DashboardQueries.seriesLimit) checks)",
                             series: byVersion.map { .init(name: "v\($0.0)", points: $0.1) }, rules: rules,
                             xName: "window end", yName: metric, xText: DashboardLayout.minute)
        return out
    }

    private static func driftSection(_ latest: [JSONValue], history: [JSONValue]) -> String {
        var out = "<h2 id=\"drift\">Drift per feature</h2>"
        let threshold = latest.first?["threshold"]?.numberValue
        out += SVGChart.bars(id: "drift-chart", title: "Latest PSI per feature",
                             bars: latest.map { ($0["feature"]?.stringValue ?? "", $0["psi"]?.numberValue ?? 0) },
                             rule: threshold.map { .init(label: "drift threshold", y: $0, kind: "threshold") }, valueName: "PSI")
        out += HTML.table(caption: "Latest drift check of each feature (ml.drift_report)",
                          headers: ["Feature", "Version", "Kind", "PSI", "n", "Threshold", "Drifted", "Window end"],
                          rows: latest.map { d in
                              [HTML.value(d["feature"]), HTML.value(d["version"]), HTML.value(d["kind"]), HTML.value(d["psi"]),
                               HTML.value(d["n"]), HTML.value(d["threshold"]),
                               d["drifted"] == .bool(true) ? "<span class=\"bad\">yes</span>" : "no", HTML.time(d["window_end"])]
                          }, id: "drift-table")
        var features: [(String, [(x: Double, y: Double)])] = []
        for d in history {
            guard let name = d["feature"]?.stringValue, let t = d["t"]?.numberValue, let psi = d["psi"]?.numberValue else { continue }
            if let index = features.firstIndex(where: { $0.0 == name }) { features[index].1.append((t, psi)) } else { features.append((name, [(t, psi)])) }
        }
        out += SVGChart.line(id: "drift-history-chart", title: "PSI over time (latest \(DashboardQueries.driftPointsPerFeature) measurements of each feature)",
                             series: features.map { .init(name: $0.0, points: $0.1) },
                             rules: threshold.map { [.init(label: "drift threshold", y: $0, kind: "threshold")] } ?? [],
                             xName: "window end", yName: "PSI", xText: DashboardLayout.minute)
        return out
    }

    private static func volumeSection(_ volume: [(hour: Double, count: Double)]) -> String {
        let bars = volume.map { (label: String(DashboardLayout.minute($0.hour).suffix(5)), value: $0.count) }
        return "<h2 id=\"volume\">Prediction volume</h2>" + SVGChart.bars(
            id: "volume-chart", title: "Predictions logged per hour, the last 24 hours (UTC; the last bar: this hour so far)",
            bars: bars, valueName: "predictions")
    }

    private static func runsSection(_ runs: [JSONValue], schedules: [JSONValue], project: String, viewer: DashboardViewer) -> String {
        var out = "<h2 id=\"runs\">Training runs</h2>"
        if viewer.mayTrain {
            out += HTML.table(caption: "Latest \(DashboardQueries.listLimit) runs (ml.run_history)",
                              headers: ["Run", "Kind", "Schedule", "Status", "Started", "Duration", "Rows", "Version", "Deployed", "Error"],
                              rows: runs.map { r in
                                  [HTML.value(r["run"]), HTML.value(r["kind"]), HTML.value(r["schedule"]),
                                   r["status"]?.stringValue == "failed" ? "<span class=\"bad\">failed</span>" : HTML.value(r["status"]),
                                   HTML.time(r["started_at"]), HTML.value(r["duration"]), HTML.value(r["rows"]), HTML.value(r["version"]),
                                   HTML.value(r["deployed"]), HTML.value(r["error"])]
                              }, id: "runs-table")
        } else {
            out += "<p class=\"empty\">Training runs (their errors may quote data) need a train-scope key.</p>"
        }
        var headers = ["Schedule", "Expression", "Deploy", "Paused", "Next run", "Last status", "Last run", "Succeeded", "Failed"]
        if viewer.mayAct { headers.append("Action") }
        let rows = schedules.map { s -> [String] in
            var row = [HTML.value(s["schedule"]), HTML.value(s["expression"]), HTML.value(s["deploy"]), HTML.value(s["paused"]),
                       HTML.time(s["next_run_at"]), HTML.value(s["last_status"]), HTML.time(s["last_run_at"]),
                       HTML.value(s["runs_ok"]), HTML.value(s["runs_failed"])]
            if viewer.mayAct, let id = s["schedule"]?.numberValue.map({ Int($0) }) {
                let action: DashboardAction = s["paused"] == .bool(true) ? .resume(schedule: id) : .pause(schedule: id)
                row.append(action.confirmLink(project: project, label: s["paused"] == .bool(true) ? "Resume…" : "Pause…"))
            }
            return row
        }
        return out + HTML.table(caption: "Schedules (ml.schedule_overview)", headers: headers, rows: rows, id: "schedules-table")
    }

    private static func actionsSection(_ actions: [JSONValue]) -> String {
        "<h2 id=\"actions\">Monitor actions</h2>" + HTML.table(
            caption: "Latest \(DashboardQueries.listLimit) monitor actions (ml.action_history)",
            headers: ["When", "Version", "Action", "Reason", "Run", "New version", "Worker"],
            rows: actions.map { a in
                [HTML.time(a["created_at"]), HTML.value(a["version"]), HTML.value(a["action"]), HTML.value(a["reason"]),
                 HTML.value(a["run_id"]), HTML.value(a["new_version"]), HTML.value(a["worker"])]
            }, id: "actions-table")
    }
}
