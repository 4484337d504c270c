import Hummingbird
import Testing

@testable import PgScoreServe

@Suite struct ProblemTests {
    @Test(arguments: [
        ("42704", 404), ("55000", 409), ("23503", 404), ("57014", 504), ("22P02", 422), ("2202E", 422),
        ("22023", 422), ("42703", 422), ("54000", 422), ("23505", 409), ("57P01", 503), ("08006", 503),
        ("53300", 503), ("XX000", 500), ("42501", 403),
    ])
    func mapsSQLStates(state: String, status: Int) {
        #expect(Problem.from(sqlState: state, message: "m", hint: nil).status.code == status)
    }

    @Test func keepsThePostgreSQLMessageAndHint() {
        let problem = Problem.from(sqlState: "42704", message: "project \"x\" does not exist", hint: "ml.train creates one.")
        #expect(problem.detail == "project \"x\" does not exist. ml.train creates one.")
    }

    @Test func isAnRFC9457Body() {
        let problem = Problem.validation("bad", [("missing_features", ["age"])])
        #expect(problem.body(requestID: "r1").serialized ==
            #"{"type":"urn:pgscore:problem:validation","title":"Invalid request content","status":422,"detail":"bad","request_id":"r1","missing_features":["age"]}"#)
    }

    @Test func unavailableSaysWhenToRetry() {
        let response = Problem.unavailable("down", retryAfter: 3).response(requestID: nil)
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers[.retryAfter] == "3")
        #expect(response.headers[.contentType] == "application/problem+json")
    }

    @Test func aSaturatedPoolIs503() {
        let problem = Problem.from(database: Database.PoolUnavailable(waited: .milliseconds(250), poolSize: 4))
        #expect(problem?.status == .serviceUnavailable)
        #expect(problem?.detail.contains("250 ms") == true)
    }
}
