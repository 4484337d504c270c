import Testing

@testable import PgScoreServe

@Suite struct DashboardTests {
    @Test func escapingLeavesNoMarkup() {
        #expect(HTML.escape("<script>alert('x') & \"y\"</script>") == "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;")
        #expect(HTML.escape("plain é ✓") == "plain é ✓")
    }

    @Test func numbersAsThePagesShowThem() {
        #expect(HTML.number(3) == "3")
        #expect(HTML.number(0.815789) == "0.8158")
        #expect(HTML.number(1e-10) == "1e-10")
        #expect(HTML.number(nil) == "—" && HTML.number(.nan) == "—")
        for value in [0.12345, -0.00049, -2.5, 1234.56789, 0.99999, -0.99996, 3e15] {
            #expect(HTML.fixed(value, decimals: 4) == String(format: "%.4f", value), "\(value)")
        }
        #expect(HTML.fixed(12.26, decimals: 1) == "12.3" && HTML.fixed(-0.04, decimals: 1) == "0.0")
    }

    @Test func chartsCarryTheirNumbersAsTextAndEscapeLabels() {
        let svg = SVGChart.bars(id: "d", title: "PSI <b>", bars: [("<i>age</i>", 0.25), ("sex", 0.01)],
                                rule: .init(label: "threshold", y: 0.2, kind: "threshold"), valueName: "PSI")
        #expect(!svg.contains("<i>") && !svg.contains("<b>"))
        #expect(svg.contains("<title id=\"d-title\">PSI &lt;b&gt;</title>"))
        #expect(svg.contains("<td>&lt;i&gt;age&lt;/i&gt;</td><td>0.2500</td>"))
        #expect(svg.contains("class=\"bar over\""))       // above the threshold
        let line = SVGChart.line(id: "l", title: "live", series: [.init(name: "v1", points: [(1, 0.8), (2, 0.7)])],
                                 xName: "t", yName: "accuracy", xText: { HTML.number($0) })
        #expect(line.contains("<polyline") && line.contains("<td>v1</td><td>2</td><td>0.7000</td>"))
        #expect(SVGChart.sparkline(title: "acc", values: [0.5, 0.75]).contains("<title>acc: 0.5000, 0.7500</title>"))
    }

    @Test func sessionsExpireAndClose() {
        let sessions = DashboardSessions(lifetime: .seconds(3600), capacity: 2)
        let a = sessions.open(keyHash: "h1")
        #expect(sessions.session(a)?.keyHash == "h1")
        #expect(sessions.session(a)?.csrf.count == 43)
        _ = sessions.open(keyHash: "h2")
        _ = sessions.open(keyHash: "h3")      // over capacity: the oldest goes
        #expect(sessions.session(a) == nil)
        let expired = DashboardSessions(lifetime: .zero)
        #expect(expired.session(expired.open(keyHash: "h")) == nil)
        let b = sessions.open(keyHash: "h4")
        sessions.close(b)
        #expect(sessions.session(b) == nil)
        #expect(sessions.cookie("t", secure: false) == "pgscore_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600")
    }

    @Test func actionsFromForms() {
        #expect(DashboardAction(name: "deploy", target: "3")?.title == "Deploy version 3")
        #expect(DashboardAction(name: "deploy", target: nil) == nil)
        #expect(DashboardAction(name: "deploy", target: "-1") == nil)
        #expect(DashboardAction(name: "rollback", target: nil)?.name == "rollback")
        #expect(DashboardAction(name: "drop", target: "1") == nil)
    }
}
