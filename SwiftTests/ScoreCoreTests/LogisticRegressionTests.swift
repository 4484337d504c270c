import Testing
@testable import ScoreCore

@Suite struct LogisticRegressionTests {
    struct Data {
        var x: [[Double]]
        var y: [Int32]
        var d: Int { x[0].count }
        func rows(blockSize: Int = 4096) -> ArrayRows {
            ArrayRows(featureCount: d, features: x.flatMap { $0 }, labels: y, blockSize: blockSize)
        }
    }

    /// Overlapping binary classes: y ~ Bernoulli(σ(1 + 2 x₁ − x₂ + 0.5 x₃)).
    static func binary(n: Int = 200, seed: UInt64 = 20, offset: Double = 0) -> Data {
        var g = SplitMix64(seed: seed)
        var x: [[Double]] = [], y: [Int32] = []
        for _ in 0..<n {
            let r = [g.normal(), 2 * g.normal(), 0.5 * g.normal()]
            let p = sigmoid(1 + 2 * r[0] - r[1] + 0.5 * r[2])
            x.append([r[0] + offset, r[1], r[2] * 10])
            y.append(g.uniform(0, 1) < p ? 1 : 0)
        }
        return Data(x: x, y: y)
    }

    /// Three overlapping classes around different centres.
    static func threeClasses(n: Int = 240, seed: UInt64 = 21) -> Data {
        var g = SplitMix64(seed: seed)
        let centres: [[Double]] = [[0, 0], [1.5, 0.5], [0.5, 2]]
        var x: [[Double]] = [], y: [Int32] = []
        for i in 0..<n {
            let c = i % 3
            x.append([centres[c][0] + g.normal(), centres[c][1] + g.normal()])
            y.append(Int32(c))
        }
        return Data(x: x, y: y)
    }

    static func options(l2: Double = 1, intercept: Bool = true) -> TrainingOptions {
        var o = TrainingOptions(for: .logisticRegression)
        o.l2 = l2
        o.intercept = intercept
        return o
    }

    static func fit(_ data: Data, k: Int = 2, classOf: [Int32]? = nil, options: TrainingOptions = options(),
                    blockSize: Int = 4096, stop: StopCheck = { false }) throws -> (b: [Double], w: [[Double]]) {
        let p = try LogisticRegression.fit(rows: data.rows(blockSize: blockSize),
                                           classOf: classOf ?? (0..<Int32(k)).map { $0 },
                                           classCount: k, options: options, stop: stop)
        guard case let .logistic(b, w) = p else {
            Issue.record("expected logistic parameters")
            throw ScoreError.badValue("wrong parameters")
        }
        return (b, w)
    }

    /// Gradient of Σ loss + l2/2 ‖w‖² in original units: per score row, weights then intercept.
    static func gradient(_ data: Data, b: [Double], w: [[Double]], l2: Double) -> [[Double]] {
        let d = data.d
        if b.count == 1 {
            var g = [Double](repeating: 0, count: d + 1)
            for (x, y) in zip(data.x, data.y) {
                var s = b[0]
                for j in 0..<d { s += w[0][j] * x[j] }
                let r = sigmoid(s) - (y == 1 ? 1 : 0)
                for j in 0..<d { g[j] += r * x[j] }
                g[d] += r
            }
            for j in 0..<d { g[j] += l2 * w[0][j] }
            return [g]
        }
        let k = b.count
        var g = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: k)
        for (x, y) in zip(data.x, data.y) {
            let z = (0..<k).map { c in (0..<d).reduce(b[c]) { $0 + w[c][$1] * x[$1] } }
            let top = z.max()!
            let e = z.map { _exp($0 - top) }
            let sum = e.reduce(0, +)
            for c in 0..<k {
                let r = e[c] / sum - (Int(y) == c ? 1 : 0)
                for j in 0..<d { g[c][j] += r * x[j] }
                g[c][d] += r
            }
        }
        for c in 0..<k { for j in 0..<d { g[c][j] += l2 * w[c][j] } }
        return g
    }

    static func maxAbs(_ g: [[Double]]) -> Double {
        g.flatMap { $0 }.reduce(0) { max($0, abs($1)) }
    }

    static func isUnfit(_ error: any Error) -> Bool {
        guard let e = error as? ScoreError, case .unfitData = e else { return false }
        return true
    }

    @Test(arguments: [1.0, 0.1, 0.0, 25.0])
    func binaryGradientVanishes(l2: Double) throws {
        let data = Self.binary()
        let (b, w) = try Self.fit(data, options: Self.options(l2: l2))
        #expect(b.count == 1 && w.count == 1 && w[0].count == 3)
        let g = Self.gradient(data, b: b, w: w, l2: l2)
        #expect(Self.maxAbs(g) < 1e-8 * Double(data.x.count), "gradient \(g)")
        // The fit learned the direction of the true model.
        #expect(w[0][0] > 0 && w[0][1] < 0)
    }

    @Test func binaryGradientVanishesWithLargeOffset() throws {
        let data = Self.binary(seed: 22, offset: 1e4)
        let (b, w) = try Self.fit(data, options: Self.options(l2: 0.5))
        let g = Self.gradient(data, b: b, w: w, l2: 0.5)
        // x₁ ≈ 1e4 multiplies its residuals: allow for that scale.
        #expect(Self.maxAbs(g) < 1e-8 * Double(data.x.count) * 1e4, "gradient \(g)")
        #expect(abs(g[0][3]) < 1e-8 * Double(data.x.count))
    }

    @Test func binaryWithoutIntercept() throws {
        let data = Self.binary(seed: 23)
        let (b, w) = try Self.fit(data, options: Self.options(l2: 1, intercept: false))
        #expect(b == [0])
        let g = Self.gradient(data, b: b, w: w, l2: 1)
        for j in 0..<3 { #expect(abs(g[0][j]) < 1e-8 * Double(data.x.count)) }
        // The intercept gradient is not zero: this problem really needs an intercept.
        #expect(abs(g[0][3]) > 1)
    }

    @Test(arguments: [1.0, 0.0])
    func multinomialGradientVanishes(l2: Double) throws {
        let data = Self.threeClasses()
        let (b, w) = try Self.fit(data, k: 3, options: Self.options(l2: l2))
        #expect(b.count == 3 && w.count == 3)
        let g = Self.gradient(data, b: b, w: w, l2: l2)
        #expect(Self.maxAbs(g) < 1e-8 * Double(data.x.count), "gradient \(g)")
        #expect(abs(b.reduce(0, +)) < 1e-8)
        if l2 > 0 {
            // The penalty makes the weights of each feature sum to zero over classes.
            for j in 0..<2 { #expect(abs(w[0][j] + w[1][j] + w[2][j]) < 1e-8) }
        }
    }

    @Test func classMappingSwapsTheSign() throws {
        let data = Self.binary(seed: 24)
        let (b, w) = try Self.fit(data)
        let (b2, w2) = try Self.fit(data, classOf: [1, 0])
        #expect(approx(b2[0], -b[0], 1e-9))
        #expect(allApprox(w2[0], w[0].map { -$0 }, 1e-9))
    }

    @Test func constantFeatureGetsZeroWeightUnderPenalty() throws {
        var data = Self.binary(seed: 25)
        data.x = data.x.map { [$0[0], 3.0, $0[2]] }
        let (b, w) = try Self.fit(data, options: Self.options(l2: 1))
        #expect(w[0][1] == 0)
        let g = Self.gradient(data, b: b, w: w, l2: 1)
        #expect(Self.maxAbs(g) < 1e-8 * Double(data.x.count))

        #expect { try Self.fit(data, options: Self.options(l2: 0)) } throws: { Self.isUnfit($0) }
    }

    @Test func oneClassIsUnfit() {
        let data = Data(x: [[1], [2], [3]], y: [0, 0, 0])
        #expect { try Self.fit(data, k: 1) } throws: { Self.isUnfit($0) }
    }

    @Test
    func separableWithoutPenaltyIsUnfit() {
        let data = Data(x: [[-2], [-1], [-0.5], [0.5], [1], [2]], y: [0, 0, 0, 1, 1, 1])
        #expect { try Self.fit(data, options: Self.options(l2: 0)) } throws: { Self.isUnfit($0) }
    }

    @Test func separableWithPenaltyConverges() throws {
        let data = Data(x: [[-2], [-1], [-0.5], [0.5], [1], [2]], y: [0, 0, 0, 1, 1, 1])
        let (b, w) = try Self.fit(data, options: Self.options(l2: 1))
        #expect(w[0][0] > 0)
        #expect(abs(b[0]) < 1e-10)   // the data are symmetric about 0
        #expect(Self.maxAbs(Self.gradient(data, b: b, w: w, l2: 1)) < 1e-10)
    }

    @Test func stopCallbackInterrupts() {
        let data = Self.binary(seed: 26)
        #expect(throws: ScoreError.interrupted) { try Self.fit(data, stop: { true }) }
        // Also when the stop request arrives later, during the Newton iterations.
        let calls = Counter()
        #expect(throws: ScoreError.interrupted) {
            try Self.fit(data, blockSize: 50, stop: { calls.bump() > 12 })
        }
        #expect(calls.value > 12)
    }

    final class Counter: @unchecked Sendable {
        var value = 0
        func bump() -> Int { value += 1; return value }
    }

    @Test(arguments: [1, 7, 64, 199, 200, 4096])
    func blockSizeDoesNotMatter(blockSize: Int) throws {
        let data = Self.binary(seed: 27)
        let reference = try Self.fit(data)
        let blocked = try Self.fit(data, blockSize: blockSize)
        #expect(allApprox(blocked.b, reference.b, 1e-10))
        #expect(allApprox(blocked.w[0], reference.w[0], 1e-10))

        let three = Self.threeClasses(seed: 28)
        let r3 = try Self.fit(three, k: 3)
        let b3 = try Self.fit(three, k: 3, blockSize: blockSize)
        #expect(allApprox(b3.b, r3.b, 1e-10))
        for c in 0..<3 { #expect(allApprox(b3.w[c], r3.w[c], 1e-10)) }
    }

    @Test func badInputs() {
        let data = Self.binary(n: 20, seed: 29)
        // Non-finite feature.
        var nan = data
        nan.x[5][1] = .nan
        #expect { try Self.fit(nan) } throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("feature 2 is NaN")
        }
        // A label id without a class.
        var bad = data
        bad.y[3] = 7
        #expect { try Self.fit(bad) } throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return true
        }
        // A class that has no rows.
        #expect { try Self.fit(data, k: 3) } throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("class 3 has no rows")
        }
        // Feature array of the wrong size.
        let ragged = ArrayRows(featureCount: 3, features: [1, 2, 3, 4], labels: [0, 1])
        #expect {
            try LogisticRegression.fit(rows: ragged, classOf: [0, 1], classCount: 2, options: Self.options(), stop: { false })
        } throws: { error in
            guard let e = error as? ScoreError, case .badShape = e else { return false }
            return true
        }
    }

    @Test func tooManyParameters() {
        let d = 2000
        let rows = ArrayRows(featureCount: d, features: (0..<(3 * d)).map { Double($0 % 7) },
                             labels: [0, 1, 0])
        #expect {
            try LogisticRegression.fit(rows: rows, classOf: [0, 1], classCount: 2, options: Self.options(), stop: { false })
        } throws: { error in
            guard let e = error as? ScoreError, case .limit = e else { return false }
            return true
        }
    }

    @Test func iterationLimit() {
        let data = Self.binary(seed: 30)
        var o = Self.options(l2: 0.01)
        o.maxIterations = 1
        #expect { try Self.fit(data, options: o) } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("did not converge in 1 iterations")
        }
    }
}
