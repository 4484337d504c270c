import Testing

@testable import PgScoreServe

@Suite struct APIKeyTests {
    @Test func keysAreRandomAndWellFormed() {
        let a = APIKey.generate(), b = APIKey.generate()
        #expect(a != b)
        #expect(a.hasPrefix("pgs_") && a.count == 4 + 43)
        #expect(APIKey.isWellFormed(a))
    }

    @Test func rejectsWhatCannotBeAKey() {
        #expect(!APIKey.isWellFormed("pgs_short"))
        #expect(!APIKey.isWellFormed("abc_" + String(repeating: "A", count: 43)))
        #expect(!APIKey.isWellFormed("pgs_" + String(repeating: "A", count: 40) + "\n"))
        #expect(!APIKey.isWellFormed("pgs_" + String(repeating: "A", count: 200)))
    }

    @Test func hashIsHexSHA256() {
        #expect(APIKey.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func scopesNest() {
        #expect(Scope.admin.allows(.train) && Scope.admin.allows(.predict) && Scope.train.allows(.predict))
        #expect(!Scope.predict.allows(.train) && !Scope.train.allows(.admin))
    }
}

@Suite struct FailedKeyLimiterTests {
    @Test func refusesAnAddressPastItsLimitUntilTheWindowEnds() {
        let limiter = FailedKeyLimiter(limit: 3, window: .seconds(10))
        let start = ContinuousClock.now
        for _ in 0..<3 { limiter.recordFailure("10.0.0.1", now: start) }
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(1)) != nil)
        #expect(limiter.retryAfter("10.0.0.2", now: start + .seconds(1)) == nil)
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(11)) == nil)
    }

    @Test func zeroMeansNoLimit() {
        let limiter = FailedKeyLimiter(limit: 0)
        for _ in 0..<100 { limiter.recordFailure("10.0.0.1") }
        #expect(limiter.retryAfter("10.0.0.1") == nil)
    }
}
