import Testing
@testable import ScoreCore

@Suite struct CholeskyTests {
    @Test func solvesKnownSPDSystem() throws {
        // A = L Lᵀ with L = [[2,0,0],[6,1,0],[-8,5,3]]; x = (1,2,3) ⇒ b = A x.
        let a: [Double] = [4, 12, -16,
                           12, 37, -43,
                           -16, -43, 98]
        let b: [Double] = [4 + 24 - 48, 12 + 74 - 129, -16 - 86 + 294]
        let x = try Cholesky.solve(a, b, n: 3)
        #expect(allApprox(x, [1, 2, 3], 1e-12))
    }

    @Test func solvesBadlyScaledSystem() throws {
        // [[1e6, 1e3],[1e3, 2]] · (x0, x1) = b. det = 2e6 − 1e6 = 1e6.
        // Solution for b = (2e6, 1001): x0 = (2·2e6 − 1e3·1001)/1e6 = 2.999, x1 = (1e6·1001 − 1e3·2e6)/1e6 = −999.
        let x = try Cholesky.solve([1e6, 1e3, 1e3, 2], [2e6, 1001], n: 2)
        #expect(allApprox(x, [2.999, -999], 1e-12))
    }

    @Test func solvesTwoByTwo() throws {
        // [[4,2],[2,3]]⁻¹ = 1/8 [[3,−2],[−2,4]]; b = (2,1) ⇒ x = (0.5, 0).
        let x = try Cholesky.solve([4, 2, 2, 3], [2, 1], n: 2)
        #expect(approx(x[0], 0.5, 1e-14))
        #expect(abs(x[1]) < 1e-14)
    }

    @Test func reportsDependentColumn() {
        // Third column = first + second (Gram matrix of such columns).
        let a: [Double] = [1, 0, 1,
                           0, 1, 1,
                           1, 1, 2]
        #expect(throws: Cholesky.Failure.dependentColumn(2)) {
            try Cholesky.solve(a, [1, 1, 1], n: 3)
        }
        #expect(throws: Cholesky.Failure.dependentColumn(1)) {
            try Cholesky.solve([1, 2, 2, 4], [1, 1], n: 2)
        }
        // Scaled copies are still dependent: the pivot test ignores units.
        #expect(throws: Cholesky.Failure.dependentColumn(1)) {
            try Cholesky.solve([1e-8, 1e2, 1e2, 1e12], [1, 1], n: 2)
        }
    }

    @Test func reportsEmptyColumn() {
        #expect(throws: Cholesky.Failure.emptyColumn(1)) {
            try Cholesky.solve([1, 0, 0, 0], [1, 1], n: 2)
        }
        #expect(throws: Cholesky.Failure.emptyColumn(0)) {
            try Cholesky.solve([-1, 0, 0, 1], [1, 1], n: 2)
        }
        #expect(throws: Cholesky.Failure.emptyColumn(2)) {
            try Cholesky.solve([1, 0, 0, 0, 1, 0, 0, 0, .nan], [1, 1, 1], n: 3)
        }
    }
}
