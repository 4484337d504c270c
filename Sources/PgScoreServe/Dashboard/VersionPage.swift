import PgScoreJSON

/// `/projects/{name}/versions/{v}`: what ml.train recorded of one version, and what
/// ml.describe tells of its model.
enum VersionPage {
    static func render(_ data: JSONValue, project: String, viewer: DashboardViewer) -> String {
        let number = Int(data["version"]?.numberValue ?? 0)
        let base = "/projects/\(HTML.path(project))"
        var body = "<p><a href=\"/\">All projects</a> › <a href=\"\(base)\">\(HTML.escape(project))</a></p>"
        body += "<h1>\(HTML.escape(project)) version \(number)</h1><p>\(HTML.value(data["algorithm"])), \(HTML.value(data["task"]))"
        if data["deployed"] == .bool(true) {
            body += ", <span class=\"ok\" id=\"deployed-marker\">● deployed</span>"
        } else if viewer.mayAct {
            body += ". " + DashboardAction.deploy(version: number).confirmLink(project: project, label: "Deploy this version…")
        }
        body += "</p>"
        if viewer.mayTrain {
            body += "<p>Download: <a id=\"download-onnx\" href=\"\(base)/versions/\(number)/download?format=onnx\">ONNX</a> · "
            body += "<a id=\"download-json\" href=\"\(base)/versions/\(number)/download?format=json\">JSON</a></p>"
        }
        body += "<h2>Lineage</h2>" + HTML.table(caption: "Where this version came from", headers: ["", ""], rows: [
            ["Source", HTML.value(data["source"])], ["Label", "\(HTML.value(data["label"])) (\(HTML.value(data["label_type"])))"],
            ["Data fingerprint", HTML.value(data["fingerprint"])], ["Training rows", HTML.value(data["train_rows"])],
            ["Test rows", HTML.value(data["test_rows"])], ["Split", HTML.value(data["split"])],
            ["Trained by", HTML.value(data["created_by"])], ["Trained at", HTML.time(data["created_at"])],
            ["Duration (ms)", HTML.value(data["duration_ms"])], ["Extension version", HTML.value(data["pgscore_version"])],
        ], id: "lineage-table")
        body += "<h2>Hyperparameters</h2>" + HTML.table(
            caption: "As given to ml.train (with defaults)", headers: ["Name", "Value"],
            rows: (data["hyperparams"]?.members ?? []).map { [HTML.escape($0.0), HTML.value($0.1)] }, id: "params-table")
        body += metricsSection(data["metrics"] ?? .null, task: data["task"]?.stringValue, keyMetric: data["key_metric"]?.stringValue)
        body += modelSection(data["model"] ?? .null)
        body += statsSection(data["feature_stats"] ?? .null)
        return DashboardLayout.page(title: "\(project) v\(number)", viewer: viewer, body: body)
    }

    private static func metricsSection(_ metrics: JSONValue, task: String?, keyMetric: String?) -> String {
        var out = "<h2>Test metrics</h2>"
        let scalars = metrics.members.filter { $0.1.numberValue != nil }
        out += HTML.table(caption: "On the held-out test split (key metric: \(HTML.escape(keyMetric ?? "—")))", headers: ["Metric", "Value"],
                          rows: scalars.map { [HTML.escape($0.0), HTML.value($0.1)] }, id: "metrics-table")
        if task == "classification" {
            let classes = metrics["classes"]?.arrayValue.map { HTML.value($0) } ?? []
            let matrix = metrics["confusion_matrix"]?.arrayValue ?? []
            if !matrix.isEmpty {
                out += "<h2>Confusion matrix</h2>" + HTML.table(
                    caption: "Rows: true class; columns: predicted class",
                    headers: ["true \\ predicted"] + classes,
                    rows: matrix.enumerated().map { index, row in
                        [index < classes.count ? classes[index] : ""] + row.arrayValue.map { HTML.value($0) }
                    }, id: "confusion-table")
            }
            if let perClass = metrics["per_class"], perClass != .null {
                let names = ["precision", "recall", "f1", "support"]
                out += HTML.table(caption: "Per class", headers: ["Class"] + names,
                                  rows: classes.indices.map { i in [classes[i]] + names.map { HTML.value(perClass[$0]?.arrayValue[safe: i]) } },
                                  id: "per-class-table")
            }
            out += rocSection(metrics)
        } else {
            out += "<h2>Residuals</h2>" + HTML.table(
                caption: "Residual summary on the test split", headers: ["Measure", "Value"],
                rows: [["RMSE", HTML.value(metrics["rmse"])], ["MAE", HTML.value(metrics["mae"])], ["R²", HTML.value(metrics["r2"])],
                       ["Rows", HTML.value(metrics["rows"])]], id: "residuals-table")
        }
        return out
    }

    /// The ROC curves ml.metrics stored with the version (metrics -> 'roc'), each drawn
    /// against the chance diagonal, with a table of its points.
    private static func rocSection(_ metrics: JSONValue) -> String {
        var out = "<h2 id=\"roc\">ROC curve</h2><p>ROC AUC on the test split: <strong id=\"roc-auc\">\(HTML.value(metrics["roc_auc"]))</strong>.</p>"
        guard let curves = metrics["roc"]?.arrayValue, !curves.isEmpty else {
            return out + "<p class=\"empty\" id=\"roc-missing\">This version was trained before pgscore stored ROC curves (or its test split lacks a class), so only the area is known.</p>"
        }
        let binary = curves.count == 1
        var series: [SVGChart.Series] = []
        var tables = ""
        for (index, curve) in curves.enumerated() {
            let fpr = curve["fpr"]?.arrayValue.map { $0.numberValue ?? .nan } ?? []
            let tpr = curve["tpr"]?.arrayValue.map { $0.numberValue ?? .nan } ?? []
            let thresholds = curve["thresholds"]?.arrayValue ?? []
            let name = (binary ? "positive class " : "class ") + HTML.value(curve["class"]) + (binary ? "" : " vs rest")
            series.append(.init(name: name, points: zip(fpr, tpr).map { (x: $0, y: $1) }))
            let note = curve["thinned"] == .bool(true) ? " (thinned to \(fpr.count) points)" : ""
            tables += HTML.table(
                caption: "ROC points of \(name)\(note): the rows scored at or above the threshold are predicted \(HTML.value(curve["class"]))",
                headers: ["Threshold", "False positive rate", "True positive rate"],
                rows: fpr.indices.map { i in
                    // all the digits stored: the points are for copying, not reading
                    [thresholds[safe: i]?.numberValue.map { "\($0)" } ?? "+∞", "\(fpr[i])", tpr[safe: i].map { "\($0)" } ?? "—"]
                }, id: "roc-points-\(index)")
        }
        series.append(.init(name: "chance", points: [(0, 0), (1, 1)]))
        out += SVGChart.line(id: "roc-chart", title: "ROC curve on the test split" + (binary ? "" : ", each class against the rest"),
                             series: series, xName: "false positive rate", yName: "true positive rate",
                             xText: { HTML.number($0) }, width: 420, height: 360)
        return out + "<details><summary>ROC points</summary>" + tables + "</details>"
    }

    /// Coefficients (linear models) or split-gain importances (trees), and the preprocessing, from ml.describe.
    private static func modelSection(_ model: JSONValue) -> String {
        let names = model["info"]?["feature_names"]?.arrayValue.compactMap(\.stringValue) ?? []
        var out = "<h2>Coefficients</h2>"
        var rows: [[Double]] = []
        if case .array(let items)? = model["coefficients"] {
            rows = items.first?.numberValue != nil ? [items.compactMap(\.numberValue)] : items.map { $0.arrayValue.compactMap(\.numberValue) }
        }
        let importance = model["feature_importance"]?.arrayValue.compactMap(\.numberValue) ?? []
        if !importance.isEmpty {
            out = "<h2 id=\"importance\">Feature importance</h2>"
            out += SVGChart.bars(id: "importance-chart", title: "Share of the total split gain over all trees, per feature",
                                 bars: importance.enumerated().map { (index: Int, value: Double) in
                                     (index < names.count ? names[index] : "x\(index)", value)
                                 }, valueName: "importance")
        } else if rows.isEmpty {
            out += "<p class=\"empty\">This algorithm (\(HTML.value(model["algorithm"]))) has no coefficients, and ml.describe gives no feature importance for it.</p>"
        } else {
            let classes = model["classes"]?.arrayValue.map { HTML.value($0) } ?? []
            for (index, row) in rows.enumerated() {
                let which = rows.count > 1 && index < classes.count ? " (class \(classes[index]))" : ""
                out += SVGChart.bars(id: "coefficients-chart-\(index)", title: "Coefficients\(which), on the scaled features",
                                     bars: row.enumerated().map { (index < names.count ? names[$0.offset] : "x\($0.offset)", $0.element) },
                                     valueName: "coefficient")
            }
            let intercepts = model["intercepts"]?.arrayValue ?? (model["intercept"].map { [$0] } ?? [])
            out += "<p>Intercept: \(intercepts.map { HTML.value($0) }.joined(separator: ", "))</p>"
        }
        let columns = model["info"]?["preprocess"]?["columns"]?.arrayValue ?? []
        out += "<h2>Preprocessing learned</h2>" + HTML.table(
            caption: "Replayed on every prediction", headers: ["Column", "Type", "Kind", "Center", "Scale", "Imputed with", "Categories"],
            rows: columns.map { c in
                [HTML.value(c["name"]), HTML.value(c["type"]), HTML.value(c["kind"]), HTML.value(c["center"]), HTML.value(c["scale"]),
                 HTML.value(c["impute"]), c["categories"].map { $0.arrayValue.map { HTML.value($0) }.joined(separator: ", ") } ?? ""]
            }, id: "preprocess-table")
        return out
    }

    /// Per feature: the training data's summary, and a histogram of its bins (between the
    /// training deciles) or category frequencies.
    private static func statsSection(_ all: JSONValue) -> String {
        // ("_dropped": the columns ml.train left out, with why)
        let stats = JSONValue.object(all.members.filter { $0.1.objectValue != nil })
        let dropped = all["_dropped"]?.arrayValue ?? []
        var out = "<h2>Training data per feature</h2>" + HTML.table(
            caption: "From the statistics ml.train stored (also the drift baseline)",
            headers: ["Feature", "Kind", "Mean", "Std", "Min", "Max", "Null fraction"],
            rows: stats.members.map { name, s in
                [HTML.escape(name), HTML.value(s["kind"]), HTML.value(s["mean"]), HTML.value(s["std"]), HTML.value(s["min"]),
                 HTML.value(s["max"]), HTML.value(s["null_fraction"])]
            }, id: "stats-table")
        if !dropped.isEmpty {
            out += HTML.table(caption: "Columns ml.train left out", headers: ["Column", "Reason"],
                              rows: dropped.map { [HTML.value($0["column"]), HTML.value($0["reason"])] }, id: "dropped-table")
        }
        for (index, (name, s)) in stats.members.enumerated() {
            var bars: [(label: String, value: Double)] = []
            if let bins = s["bins"] {
                let cuts = bins["cuts"]?.arrayValue.compactMap(\.numberValue) ?? []
                let shares = bins["shares"]?.arrayValue.compactMap(\.numberValue) ?? []
                for (i, share) in shares.enumerated() {
                    let label = i == 0 ? "< \(HTML.number(cuts.first))" : i >= cuts.count ? "≥ \(HTML.number(cuts.last))" : "\(HTML.number(cuts[i - 1]))–\(HTML.number(cuts[i]))"
                    bars.append((label, share))
                }
            } else if let frequencies = s["frequencies"] {
                bars = frequencies.members.map { ($0.0, $0.1.numberValue ?? 0) }
            }
            if !bars.isEmpty {
                out += SVGChart.bars(id: "histogram-\(index)", title: "\(name): share of training rows per bin",
                                     bars: bars, valueName: "share", width: 480, height: 180)
            }
        }
        return out
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
