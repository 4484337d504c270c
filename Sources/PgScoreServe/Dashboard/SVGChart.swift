import Foundation

/// The dashboard's charts, drawn as inline SVG from numbers the registry gave (no
/// script, no external file). Every chart carries its numbers as text: a `<title>`, and
/// for line and bar charts a table under a `<details>`, for screen readers and copying.
enum SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    /// A horizontal line across a chart (a test score, a threshold).
    struct Rule {
        var label: String
        var y: Double
        /// CSS class: "baseline" or "threshold"
        var kind: String
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// Lines (with points) of each series over a shared x axis; `xText` writes an x value
    /// (a time, a hyperparameter). Points are joined in x order (equal x: y order, as a
    /// ROC curve climbs).
    static func line(id: String, title: String, series: [Series], rules: [Rule] = [], xName: String, yName: String,
                     xText: (Double) -> String, width: Double = 640, height: Double = 240) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) } + rules.map(\.y)
        guard !xs.isEmpty else { return empty(title) }
        let frame = Frame(xs: xs, ys: ys, width: width, height: height)
        var svg = open(id: id, title: title, width: width, height: height)
        svg += frame.axes(xLow: xText(frame.xMin), xHigh: xText(frame.xMax))
        for rule in rules {
            let y = frame.y(rule.y)
            svg += "<line class=\"\(rule.kind)\" x1=\"\(f(frame.left))\" x2=\"\(f(width - frame.right))\" y1=\"\(f(y))\" y2=\"\(f(y))\"><title>\(HTML.escape(rule.label)): \(HTML.number(rule.y))</title></line>"
        }
        for (index, one) in series.enumerated() {
            let color = palette[index % palette.count]
            let points = one.points.sorted { ($0.x, $0.y) < ($1.x, $1.y) }
            if points.count > 1 {
                let path = points.map { "\(f(frame.x($0.x))),\(f(frame.y($0.y)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>"
            }
            for point in points {
                svg += "<circle cx=\"\(f(frame.x(point.x)))\" cy=\"\(f(frame.y(point.y)))\" r=\"3\" fill=\"\(color)\"><title>\(HTML.escape(one.name)): \(HTML.escape(xText(point.x))), \(HTML.number(point.y))</title></circle>"
            }
        }
        svg += legend(series.map(\.name) + rules.map { "— \($0.label)" }, width: width)
        svg += "</svg>"
        var rows: [[String]] = []
        for one in series {
            for point in one.points.sorted(by: { ($0.x, $0.y) < ($1.x, $1.y) }) {
                rows.append([HTML.escape(one.name), HTML.escape(xText(point.x)), HTML.number(point.y)])
            }
        }
        for rule in rules { rows.append([HTML.escape(rule.label), "(all)", HTML.number(rule.y)]) }
        return figure(svg, title: title, table: HTML.table(caption: "Numbers of: \(HTML.escape(title))",
                                                           headers: ["Series", HTML.escape(xName), HTML.escape(yName)], rows: rows))
    }

    /// One bar per label, with an optional threshold line.
    static func bars(id: String, title: String, bars: [(label: String, value: Double)], rule: Rule? = nil,
                     valueName: String, width: Double = 640, height: Double = 220) -> String {
        guard !bars.isEmpty else { return empty(title) }
        let values = bars.map(\.value) + (rule.map { [$0.y] } ?? []) + [0]
        let frame = Frame(xs: [0, Double(bars.count)], ys: values, width: width, height: height, bottom: 48)
        var svg = open(id: id, title: title, width: width, height: height)
        svg += frame.axes(xLow: "", xHigh: "")
        let slot = (width - frame.left - frame.right) / Double(bars.count)
        for (index, bar) in bars.enumerated() {
            let x = frame.left + slot * Double(index) + slot * 0.15
            let top = frame.y(max(bar.value, 0)), base = frame.y(min(bar.value, 0))
            let over = rule.map { bar.value > $0.y } ?? false
            svg += "<rect class=\"\(over ? "bar over" : "bar")\" x=\"\(f(x))\" y=\"\(f(top))\" width=\"\(f(slot * 0.7))\" height=\"\(f(max(base - top, 0.5)))\"><title>\(HTML.escape(bar.label)): \(HTML.number(bar.value))</title></rect>"
            let label = bar.label.count > 12 ? String(bar.label.prefix(11)) + "…" : bar.label
            svg += "<text class=\"tick\" x=\"\(f(x + slot * 0.35))\" y=\"\(f(height - frame.bottom + 14))\" text-anchor=\"middle\">\(HTML.escape(label))</text>"
        }
        if let rule {
            let y = frame.y(rule.y)
            svg += "<line class=\"\(rule.kind)\" x1=\"\(f(frame.left))\" x2=\"\(f(width - frame.right))\" y1=\"\(f(y))\" y2=\"\(f(y))\"><title>\(HTML.escape(rule.label)): \(HTML.number(rule.y))</title></line>"
        }
        svg += "</svg>"
        var rows = bars.map { [HTML.escape($0.label), HTML.number($0.value)] }
        if let rule { rows.append([HTML.escape(rule.label), HTML.number(rule.y)]) }
        return figure(svg, title: title, table: HTML.table(caption: "Numbers of: \(HTML.escape(title))",
                                                           headers: ["", HTML.escape(valueName)], rows: rows))
    }

    /// A word-sized line of the latest values, oldest first; its numbers in its `<title>`.
    static func sparkline(title: String, values: [Double], width: Double = 100, height: Double = 24) -> String {
        let label = "\(title): " + (values.isEmpty ? "no values yet" : values.map { HTML.number($0) }.joined(separator: ", "))
        guard values.count > 1, let low = values.min(), let high = values.max() else {
            return "<svg class=\"spark\" role=\"img\" width=\"\(f(width))\" height=\"\(f(height))\"><title>\(HTML.escape(label))</title></svg>"
        }
        let span = high - low == 0 ? 1 : high - low
        let step = width / Double(values.count - 1)
        let points = values.enumerated().map { index, value in
            "\(f(Double(index) * step)),\(f(height - 2 - (value - low) / span * (height - 4)))"
        }.joined(separator: " ")
        return "<svg class=\"spark\" role=\"img\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\"><title>\(HTML.escape(label))</title><polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(points)\"/></svg>"
    }

    // ---------------------------------------------------------------- drawing

    /// Maps data to the drawing area inside the margins.
    private struct Frame {
        let xMin: Double, xMax: Double, yMin: Double, yMax: Double
        let width: Double, height: Double
        let left = 56.0, right = 16.0, top = 24.0
        let bottom: Double

        init(xs: [Double], ys: [Double], width: Double, height: Double, bottom: Double = 40) {
            var xMin = xs.min() ?? 0, xMax = xs.max() ?? 1
            if xMin == xMax { xMin -= 1; xMax += 1 }
            var yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
            if yMin == yMax { yMin -= 0.5; yMax += 0.5 }
            let pad = (yMax - yMin) * 0.08
            // (bars start at 0: no padding below an axis at 0)
            self.xMin = xMin; self.xMax = xMax; self.yMin = yMin == 0 ? 0 : yMin - pad; self.yMax = yMax + pad
            self.width = width; self.height = height; self.bottom = bottom
        }

        func x(_ value: Double) -> Double { left + (value - xMin) / (xMax - xMin) * (width - left - right) }
        func y(_ value: Double) -> Double { height - bottom - (value - yMin) / (yMax - yMin) * (height - top - bottom) }

        func axes(xLow: String, xHigh: String) -> String {
            let base = height - bottom
            var out = "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(base))\"/>"
            out += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(base))\" x2=\"\(f(width - right))\" y2=\"\(f(base))\"/>"
            for value in [yMin, (yMin + yMax) / 2, yMax] {
                out += "<text class=\"tick\" x=\"\(f(left - 4))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(HTML.number(value))</text>"
            }
            out += "<text class=\"tick\" x=\"\(f(left))\" y=\"\(f(base + 14))\">\(HTML.escape(xLow))</text>"
            out += "<text class=\"tick\" x=\"\(f(width - right))\" y=\"\(f(base + 14))\" text-anchor=\"end\">\(HTML.escape(xHigh))</text>"
            return out
        }
    }

    private static func open(id: String, title: String, width: Double, height: Double) -> String {
        "<svg id=\"\(HTML.escape(id))\" class=\"chart\" role=\"img\" aria-labelledby=\"\(HTML.escape(id))-title\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\"><title id=\"\(HTML.escape(id))-title\">\(HTML.escape(title))</title>"
    }

    private static func legend(_ names: [String], width: Double) -> String {
        var out = ""
        var x = 60.0
        for (index, name) in names.enumerated() where x < width - 40 {
            let color = index < names.count ? palette[index % palette.count] : "#000"
            out += "<text class=\"legend\" x=\"\(f(x))\" y=\"14\" fill=\"\(name.hasPrefix("— ") ? "#444" : color)\">\(HTML.escape(name))</text>"
            x += Double(min(name.count, 24)) * 7 + 16
        }
        return out
    }

    private static func figure(_ svg: String, title: String, table: String) -> String {
        "<figure>\(svg)<figcaption>\(HTML.escape(title))</figcaption><details><summary>Numbers</summary>\(table)</details></figure>"
    }

    private static func empty(_ title: String) -> String {
        "<p class=\"empty\">\(HTML.escape(title)): no data yet.</p>"
    }

    /// A coordinate with one decimal.
    private static func f(_ value: Double) -> String { HTML.fixed(value, decimals: 1) }
}
