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
