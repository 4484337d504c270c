import PgScoreJSON

/// `/`: one row per project the key may see.
enum ProjectsPage {
    static func render(_ projects: JSONValue, viewer: DashboardViewer) -> String {
        let items = projects.arrayValue
        var rows: [[String]] = []
        var attributes: [String] = []
        for project in items {
            let name = project["project"]?.stringValue ?? ""
            let live = project["live"]
            let liveText = live.flatMap { $0["value"]?.numberValue }.map {
                "\(HTML.number($0)) <small>(\(HTML.value(live?["metric"])), n=\(HTML.value(live?["n"])), \(HTML.time(live?["window_end"])))</small>"
            } ?? "—"
            let spark = project["spark"]?.arrayValue.compactMap(\.numberValue) ?? []
            let run = project["last_run"]
            let runText = run.flatMap { $0["status"]?.stringValue }.map {
                "<span class=\"\($0 == "failed" ? "bad" : "")\">\(HTML.escape($0))</span> <small>(run \(HTML.value(run?["run"])), \(HTML.value(run?["kind"])), \(HTML.time(run?["at"])))</small>"
            } ?? "—"
            let alerts = Int(project["open_alerts"]?.numberValue ?? 0)
            rows.append([
                "<a href=\"/projects/\(HTML.path(name))\">\(HTML.escape(name))</a>",
                HTML.value(project["task"]),
                HTML.value(project["deployed_version"]),
                HTML.value(project["algorithm"]),
                HTML.value(project["key_metric"]),
                HTML.value(project["score"]),
                liveText,
                SVGChart.sparkline(title: "live \(live?["metric"]?.stringValue ?? "score") of \(name)", values: spark),
                HTML.value(project["predictions_hour"]),
                runText,
                alerts > 0 ? "<span class=\"bad\">\(alerts)</span>" : "0",
                HTML.value(project["versions"]),
            ])
            attributes.append("data-project=\"\(HTML.escape(name))\"")
        }
        let body = "<h1>Projects</h1>" + HTML.table(
            caption: "\(items.count) project\(items.count == 1 ? "" : "s")",
            headers: ["Project", "Task", "Deployed version", "Algorithm", "Key metric", "Test score", "Live (last window)",
                      "Live trend", "Predictions (last hour)", "Last training run", "Open alerts", "Versions"],
            rows: rows, id: "projects", sortable: true, rowAttributes: attributes)
        return DashboardLayout.page(title: "Projects", viewer: viewer, body: body)
    }
}
