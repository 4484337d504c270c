import Testing
@testable import ScoreCore

@Suite struct TreeTests {
    // MARK: data

    struct Classes {
        var x: [[Double]]
        var y: [Int32]
        var k: Int
        var d: Int { x[0].count }
        func rows(blockSize: Int = 4096) -> ArrayRows {
            ArrayRows(featureCount: d, features: x.flatMap { $0 }, labels: y, blockSize: blockSize)
        }
        var labels: [[UInt8]] { (0..<k).map { Array("c\($0)".utf8) } }
        func shuffled(seed: UInt64) -> Classes {
            var g = SplitMix64(seed: seed)
            var idx = Array(x.indices)
            idx.shuffle(using: &g)
            return Classes(x: idx.map { x[$0] }, y: idx.map { y[$0] }, k: k)
        }
    }

    struct Values {
        var x: [[Double]]
        var y: [Double]
        var d: Int { x[0].count }
        func rows(blockSize: Int = 4096) -> ArrayRegressionRows {
            ArrayRegressionRows(featureCount: d, features: x.flatMap { $0 }, targets: y, blockSize: blockSize)
        }
    }

    /// y ~ Bernoulli(σ(2 x₁ − x₂ + x₁x₃)), with a noise feature and some missing values.
    static func binary(n: Int = 600, seed: UInt64 = 7, missing: Double = 0.05) -> Classes {
        var g = SplitMix64(seed: seed)
        var x: [[Double]] = [], y: [Int32] = []
        for _ in 0..<n {
            var r = [g.normal(), g.normal(), g.normal(), g.normal()]
            let p = sigmoid(2 * r[0] - r[1] + r[0] * r[2])
            y.append(g.uniform(0, 1) < p ? 1 : 0)
            for j in 0..<4 where g.uniform(0, 1) < missing { r[j] = .nan }
            x.append(r)
        }
        return Classes(x: x, y: y, k: 2)
    }

    static func threeClasses(n: Int = 450, seed: UInt64 = 8) -> Classes {
        var g = SplitMix64(seed: seed)
        let centres: [[Double]] = [[0, 0], [2, 0.5], [0.5, 2.5]]
        var x: [[Double]] = [], y: [Int32] = []
        for i in 0..<n {
            let c = i % 3
            x.append([centres[c][0] + g.normal(), centres[c][1] + g.normal(), g.normal()])
            y.append(Int32(c))
        }
        return Classes(x: x, y: y, k: 3)
    }

    static func regression(n: Int = 500, seed: UInt64 = 9) -> Values {
        var g = SplitMix64(seed: seed)
        var x: [[Double]] = [], y: [Double] = []
        for _ in 0..<n {
            let r = [g.uniform(-2, 2), g.uniform(-2, 2), g.uniform(-2, 2)]
            x.append(r)
            y.append(3 * r[0] * r[0] - 2 * r[1] + (r[2] > 0 ? 1 : 0) + 0.1 * g.normal())
        }
        return Values(x: x, y: y)
    }

    static func options(_ a: Algorithm, _ json: String = "") throws -> TrainingOptions {
        try TrainingOptions.parse(json, for: a)
    }

    static func classifier(_ a: Algorithm, _ data: Classes, _ json: String = "", blockSize: Int = 4096) throws -> Model {
        try TreeModels.trainClassifier(a, rows: data.rows(blockSize: blockSize), classOf: (0..<Int32(data.k)).map { $0 },
                                       classes: data.labels, labelKind: .text, options: try options(a, json))
    }

    static func regressor(_ a: Algorithm, _ data: Values, _ json: String = "") throws -> Model {
        try TreeModels.trainRegressor(a, rows: data.rows(), options: try options(a, json))
    }

    static func ensemble(_ m: Model) -> TreeEnsemble {
        guard case let .trees(e) = m.parameters else { fatalError("not a tree model") }
        return e
    }

    static func predict(_ m: Model, _ x: [Double]) throws -> Prediction {
        let s = Scorer(m)
        return try typed { try x.withUnsafeBufferPointer { try s.predict($0.baseAddress!, count: x.count) } }
    }

    static func proba(_ m: Model, _ x: [Double]) throws -> [Double] {
        let s = Scorer(m)
        var out = [Double](repeating: -1, count: m.classes.count)
        try typed {
            try x.withUnsafeBufferPointer { xp in
                try out.withUnsafeMutableBufferPointer { try s.probabilities(xp.baseAddress!, count: x.count, into: $0.baseAddress!) }
            }
        }
        return out
    }

    static func value(_ m: Model, _ x: [Double]) throws -> Double {
        guard case let .value(v) = try predict(m, x) else { fatalError("not a regressor") }
        return v
    }

    static func cls(_ m: Model, _ x: [Double]) throws -> Int {
        guard case let .classIndex(c) = try predict(m, x) else { fatalError("not a classifier") }
        return c
    }

    // MARK: hand-checked trees

    @Test func oneSplitClassifier() throws {
        let data = Classes(x: [[1], [2], [3], [4], [5], [6]], y: [0, 0, 0, 1, 1, 1], k: 2)
        let e = Self.ensemble(try Self.classifier(.decisionTree, data))
        #expect(e.treeCount == 1 && e.nodeCount == 3)
        #expect(e.feature == [0, -1, -1])
        #expect(e.threshold[0] == 3.5)
        #expect(e.left[0] == 1 && e.right[0] == 2)
        #expect(e.values == [1, 0, 0, 1])
        #expect(e.importance == [1])
    }

    @Test func giniPicksTheBetterFeature() throws {
        // x1 separates 7 of 8 rows, x2 all 8 at 2.5 | 3: the tree takes x2 and stops.
        let x: [[Double]] = [[1, 1], [2, 2], [3, 1], [4, 2], [5, 3], [6, 4], [7, 3], [8, 4]]
        let y: [Int32] = [0, 0, 0, 0, 1, 1, 1, 1]
        let m = try Self.classifier(.decisionTree, Classes(x: x, y: y, k: 2))
        let e = Self.ensemble(m)
        // Both features separate perfectly: x1 at 4.5, x2 at 2.5; ties keep the first feature.
        #expect(e.feature[0] == 0 && e.threshold[0] == 4.5)
        // Now spoil x1 for one row: x2 must win.
        var x2 = x
        x2[3][0] = 9
        let e2 = Self.ensemble(try Self.classifier(.decisionTree, Classes(x: x2, y: y, k: 2), #"{"max_depth": 1}"#))
        #expect(e2.feature[0] == 1 && e2.threshold[0] == 2.5)
        #expect(e2.nodeCount == 3)
    }

    @Test func giniGainByHand() throws {
        // 3 classes; candidate splits on one feature; compare against the hand-computed best.
        // x:  1  2  3  4  5  6
        // y:  0  0  1  1  2  2
        // split at 2.5: left {0,0} gini 0, right {1,1,2,2} gini 0.5 → weighted 4·0.5 = 2
        // split at 4.5: left {0,0,1,1} gini 0.5 (·4 = 2), right {2,2} 0 → 2 (tie: first wins)
        let data = Classes(x: [[1], [2], [3], [4], [5], [6]], y: [0, 0, 1, 1, 2, 2], k: 3)
        let m = try Self.classifier(.decisionTree, data)
        let e = Self.ensemble(m)
        #expect(e.threshold[0] == 2.5)
        #expect(e.nodeCount == 5)
        #expect(e.threshold[2] == 4.5)
        for (x, c) in [(1.0, 0), (3.2, 1), (6.0, 2), (2.5, 0), (2.50001, 1)] { #expect(try Self.cls(m, [x]) == c) }
        #expect(try Self.proba(m, [5]) == [0, 0, 1])
        // gains: root 6 − 6·(1 − 3·(1/3)²) ... in count units: Σ S²/n: children 2 + (4+4)/4 = 4 vs parent 12/6 = 2
        #expect(abs(e.importance[0] - 1) < 1e-15)
    }

    @Test func regressionTreeByHand() throws {
        let data = Values(x: [[1], [2], [3], [4]], y: [1, 1, 5, 5.5])
        let m = try Self.regressor(.decisionTree, data, #"{"max_depth": 1}"#)
        let e = Self.ensemble(m)
        #expect(e.threshold[0] == 2.5)
        #expect(e.values == [1, 5.25])
        #expect(try Self.value(m, [0]) == 1)
        #expect(try Self.value(m, [100]) == 5.25)
        // unlimited depth splits the right leaf as well, and stops at pure leaves
        let full = Self.ensemble(try Self.regressor(.decisionTree, data))
        #expect(full.leafCount == 3)
    }

    @Test func minSamplesLeafAndDepth() throws {
        let data = Self.binary()
        for (json, check) in [
            (#"{"max_depth": 3}"#, { (e: TreeEnsemble) in e.depths == [3] }),
            (#"{"min_samples_leaf": 50}"#, { (e: TreeEnsemble) in e.leafCount <= 600 / 50 }),
        ] {
            let e = Self.ensemble(try Self.classifier(.decisionTree, data, json))
            #expect(check(e), "\(json)")
        }
    }

    // MARK: missing values

    @Test func missingGoesTheLearnedWay() throws {
        // Missing rows behave like high values: default right.
        let high = Classes(x: [[1], [2], [3], [.nan], [.nan], [7], [8], [9]], y: [0, 0, 0, 1, 1, 1, 1, 1], k: 2)
        let mh = try Self.classifier(.decisionTree, high)
        let eh = Self.ensemble(mh)
        #expect(eh.threshold[0] == 5 && !eh.missingLeft[0])
        #expect(try Self.cls(mh, [.nan]) == 1)
        // ... like low values: default left.
        let low = Classes(x: [[1], [2], [3], [.nan], [.nan], [7], [8], [9]], y: [0, 0, 0, 0, 0, 1, 1, 1], k: 2)
        let ml = try Self.classifier(.decisionTree, low)
        let el = Self.ensemble(ml)
        #expect(el.threshold[0] == 5 && el.missingLeft[0])
        #expect(try Self.cls(ml, [.nan]) == 0)
        #expect(try Self.cls(ml, [8]) == 1)
        // Only missingness tells the classes apart: values left, missing right.
        let only = Classes(x: [[1], [2], [3], [.nan], [.nan]], y: [0, 0, 0, 1, 1], k: 2)
        let mo = try Self.classifier(.decisionTree, only)
        let eo = Self.ensemble(mo)
        #expect(eo.threshold[0] == Double.greatestFiniteMagnitude && !eo.missingLeft[0])
        #expect(try Self.cls(mo, [.nan]) == 1)
        #expect(try Self.cls(mo, [1e300]) == 0)
    }

    @Test func missingWithoutTrainingMissingsGoesToTheLargerChild() throws {
        let data = Classes(x: [[1], [2], [3], [4], [5]], y: [0, 0, 1, 1, 1], k: 2)
        let m = try Self.classifier(.decisionTree, data)
        let e = Self.ensemble(m)
        #expect(e.threshold[0] == 2.5 && !e.missingLeft[0])
        #expect(try Self.cls(m, [.nan]) == 1)
    }

    @Test func boostingLearnsMissingDirection() throws {
        var x: [[Double]] = [], y: [Double] = []
        for i in 0..<200 {
            let v = Double(i % 20)
            x.append([i % 5 == 0 ? .nan : v])
            y.append(i % 5 == 0 ? 10 : (v < 10 ? 0 : 1))
        }
        let m = try Self.regressor(.gradientBoosting, Values(x: x, y: y), #"{"n_trees": 200, "learning_rate": 0.3}"#)
        #expect(abs(try Self.value(m, [.nan]) - 10) < 0.1)
        #expect(abs(try Self.value(m, [3]) - 0) < 0.1)
        #expect(abs(try Self.value(m, [15]) - 1) < 0.1)
    }

    // MARK: determinism

    @Test(arguments: [Algorithm.decisionTree, .randomForest, .gradientBoosting])
    func sameSeedSameModelInAnyRowOrder(_ a: Algorithm) throws {
        let data = Self.binary()
        let json = a == .gradientBoosting ? #"{"n_trees": 20, "subsample": 0.7, "features_per_split": 0.5, "seed": 3}"#
                                          : (a == .randomForest ? #"{"n_trees": 10, "seed": 3}"# : #"{"features_per_split": 0.5, "seed": 3}"#)
        let m1 = try Self.classifier(a, data, json)
        let m2 = try Self.classifier(a, data, json, blockSize: 37)
        let m3 = try Self.classifier(a, data.shuffled(seed: 99), json)
        #expect(m1 == m2)
        #expect(m1 == m3)
        #expect(ModelCodec.encode(m1) == ModelCodec.encode(m3))
        let regression = Self.regression()
        let r1 = try Self.regressor(a, regression, json)
        var shuffled = regression
        var g = SplitMix64(seed: 5)
        let idx = Array(regression.x.indices).shuffled(using: &g)
        shuffled.x = idx.map { regression.x[$0] }
        shuffled.y = idx.map { regression.y[$0] }
        #expect(try Self.regressor(a, shuffled, json) == r1)
    }

    @Test func seedsChangeForests() throws {
        let data = Self.binary()
        let a = try Self.classifier(.randomForest, data, #"{"n_trees": 5, "seed": 1}"#)
        let b = try Self.classifier(.randomForest, data, #"{"n_trees": 5, "seed": 2}"#)
        #expect(a != b)
        #expect(try Self.classifier(.randomForest, data, #"{"n_trees": 5, "seed": 1}"#) == a)
    }

    // MARK: quality

    static func accuracy(_ m: Model, _ data: Classes) throws -> Double {
        var right = 0
        for (x, y) in zip(data.x, data.y) where try cls(m, x) == Int(y) { right += 1 }
        return Double(right) / Double(data.x.count)
    }

    static func logLoss(_ m: Model, _ data: Classes) throws -> Double {
        var total = 0.0
        for (x, y) in zip(data.x, data.y) { total -= _log(max(try proba(m, x)[Int(y)], 1e-15)) }
        return total / Double(data.x.count)
    }

    @Test func modelsLearn() throws {
        let train = Self.binary(n: 1500, seed: 1), test = Self.binary(n: 1500, seed: 2)
        let tree = try Self.accuracy(try Self.classifier(.decisionTree, train, #"{"max_depth": 4}"#), test)
        let forest = try Self.accuracy(try Self.classifier(.randomForest, train, #"{"n_trees": 50}"#), test)
        let gbt = try Self.accuracy(try Self.classifier(.gradientBoosting, train, #"{"n_trees": 50, "max_depth": 3}"#), test)
        // the Bayes rate of this data is about 0.78
        #expect(tree > 0.7 && forest > 0.72 && gbt > 0.72, "\(tree) \(forest) \(gbt)")
        let three = Self.threeClasses(), three2 = Self.threeClasses(seed: 80)
        for a in [Algorithm.decisionTree, .randomForest, .gradientBoosting] {
            let m = try Self.classifier(a, three, a == .decisionTree ? #"{"max_depth": 4}"# : #"{"n_trees": 30}"#)
            let acc = try Self.accuracy(m, three2)
            #expect(acc > 0.75, "\(a.name) \(acc)")
            let p = try Self.proba(m, three2.x[0])
            #expect(abs(p.reduce(0, +) - 1) < 1e-12)
            #expect(p.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let reg = Self.regression(), reg2 = Self.regression(seed: 90)
        for a in [Algorithm.decisionTree, .randomForest, .gradientBoosting] {
            let m = try Self.regressor(a, reg, a == .decisionTree ? #"{"max_depth": 6}"# : #"{"n_trees": 50}"#)
            var sse = 0.0, sst = 0.0
            let mean = reg2.y.reduce(0, +) / Double(reg2.y.count)
            for (x, y) in zip(reg2.x, reg2.y) {
                let e = try Self.value(m, x) - y
                sse += e * e
                sst += (y - mean) * (y - mean)
            }
            #expect(1 - sse / sst > 0.85, "\(a.name) R² \(1 - sse / sst)")
        }
    }

    @Test func boostingLossDecreases() throws {
        let data = Self.binary(n: 800)
        var last = Double.infinity
        for n in [1, 5, 20, 60] {
            let l = try Self.logLoss(try Self.classifier(.gradientBoosting, data, #"{"n_trees": \#(n)}"#), data)
            #expect(l < last, "\(n) trees: \(l) after \(last)")
            last = l
        }
        let three = Self.threeClasses()
        last = .infinity
        for n in [1, 5, 20] {
            let m = try Self.classifier(.gradientBoosting, three, #"{"n_trees": \#(n)}"#)
            #expect(Self.ensemble(m).treeCount == 3 * n)
            let l = try Self.logLoss(m, three)
            #expect(l < last)
            last = l
        }
        let reg = Self.regression()
        last = .infinity
        for n in [1, 5, 20] {
            let m = try Self.regressor(.gradientBoosting, reg, #"{"n_trees": \#(n)}"#)
            var sse = 0.0
            for (x, y) in zip(reg.x, reg.y) { sse += (try Self.value(m, x) - y) * (try Self.value(m, x) - y) }
            #expect(sse < last)
            last = sse
        }
    }

    @Test func boostingStartsAtThePriorAndFoldsTheLearningRate() throws {
        // One round of depth 1 on separable data: leaves are −G/(H+λ)·η from the prior.
        let data = Classes(x: [[1], [2], [3], [4], [5], [6], [7], [8]], y: [0, 0, 0, 1, 1, 1, 1, 1], k: 2)
        let m = try Self.classifier(.gradientBoosting, data, #"{"n_trees": 1, "max_depth": 1, "lambda": 1, "min_child_weight": 0}"#)
        let e = Self.ensemble(m)
        let p = 5.0 / 8
        #expect(abs(e.base[0] - _log(p / (1 - p))) < 1e-15)
        #expect(e.threshold[0] == 3.5)
        // left: 3 rows of class 0: g = p, h = p(1−p)
        let wl = -(3 * p) / (3 * p * (1 - p) + 1) * 0.1
        let wr = -(5 * (p - 1)) / (5 * p * (1 - p) + 1) * 0.1
        #expect(abs(e.values[0] - wl) < 1e-15 && abs(e.values[1] - wr) < 1e-15)
    }

    @Test func earlyStoppingKeepsTheBestRounds() throws {
        // Pure noise: validation loss stops improving early.
        var g = SplitMix64(seed: 4)
        let x = (0..<400).map { _ in [g.normal(), g.normal()] }
        let y = (0..<400).map { _ in Int32(g.uniform(0, 1) < 0.5 ? 1 : 0) }
        let m = try Self.classifier(.gradientBoosting, Classes(x: x, y: y, k: 2),
                                    #"{"n_trees": 300, "early_stopping_rounds": 5, "validation_fraction": 0.25, "learning_rate": 0.5}"#)
        let e = Self.ensemble(m)
        #expect(e.treeCount < 100)
        #expect(m.options.contains(#""early_stopping_rounds":5"#))
    }

    @Test func importanceFindsTheSignal() throws {
        let data = Self.regression()
        for a in [Algorithm.decisionTree, .randomForest, .gradientBoosting] {
            let e = Self.ensemble(try Self.regressor(a, data, a == .decisionTree ? "" : #"{"n_trees": 20}"#))
            #expect(abs(e.importance.reduce(0, +) - 1) < 1e-12)
            #expect(e.importance[0] > e.importance[2] && e.importance[1] > e.importance[2], "\(a.name) \(e.importance)")
        }
    }

    // MARK: codec, scorer, describe

    @Test func codecRoundTrip() throws {
        var models: [Model] = []
        for a in [Algorithm.decisionTree, .randomForest, .gradientBoosting] {
            let json = a == .decisionTree ? #"{"max_depth": 5}"# : #"{"n_trees": 7, "max_depth": 4}"#
            models.append(try Self.classifier(a, Self.binary(n: 300), json))
            models.append(try Self.classifier(a, Self.threeClasses(), json))
            models.append(try Self.regressor(a, Self.regression(), json))
        }
        let probe = Self.binary(n: 50, seed: 77).x
        for m in models {
            let bytes = ModelCodec.encode(m)
            let back = try ModelCodec.decode(bytes)
            #expect(back == m)
            #expect(ModelCodec.encode(back) == bytes)
            let k = m.featureCount
            for x in probe { #expect(try Self.predict(back, Array(x.prefix(k)) + [Double](repeating: 0, count: max(0, k - x.count))) == (try Self.predict(m, Array(x.prefix(k)) + [Double](repeating: 0, count: max(0, k - x.count))))) }
        }
    }

    /// Encodes `e` as a model body with a valid checksum, to test the validation of contents.
    static func rawModel(_ m: Model, _ e: TreeEnsemble) -> [UInt8] {
        var m = m
        m.parameters = .trees(e)
        return ModelCodec.encode(m)
    }

    @Test func decodeRefusesDamagedTrees() throws {
        let m = try Self.classifier(.decisionTree, Self.binary(n: 200), #"{"max_depth": 3}"#)
        let e = Self.ensemble(m)
        var cases: [TreeEnsemble] = []
        var c = e; c.left[0] = 0; cases.append(c)                        // a loop
        c = e; c.right[0] = Int32(e.nodeCount); cases.append(c)          // out of range
        c = e; c.feature[0] = Int32(m.featureCount); cases.append(c)     // unknown feature
        c = e; let leaf = e.feature.firstIndex(of: -1)!; c.left[leaf] = Int32(e.leafCount); cases.append(c)
        c = e; c.outputs = 3; cases.append(c)                            // leaves do not fit the classes
        c = e; c.treeStart = [0, 0]; c.treeScore = [0, 0]; cases.append(c)
        for bad in cases {
            #expect { try ModelCodec.decode(Self.rawModel(m, bad)) } throws: { error in
                guard let e = error as? ScoreError, case .badModel = e else { return false }
                return true
            }
        }
        // truncations never trap
        let bytes = ModelCodec.encode(m)
        for cut in stride(from: ModelCodec.headerSize, to: bytes.count, by: 7) {
            #expect(throws: ScoreError.self) { try ModelCodec.decode(Array(bytes[..<cut])) }
        }
    }

    @Test func scorerTakesNaNAsMissingAndRefusesInfinity() throws {
        for m in [try Self.classifier(.randomForest, Self.binary(), #"{"n_trees": 5}"#),
                  try Self.regressor(.gradientBoosting, Self.regression(), #"{"n_trees": 5}"#)] {
            let x = [Double](repeating: .nan, count: m.featureCount)
            _ = try Self.predict(m, x)
            if m.isClassifier { #expect(abs(try Self.proba(m, x).reduce(0, +) - 1) < 1e-12) }
            for bad in [Double.infinity, -.infinity] {
                var y = x
                y[1] = bad
                #expect { try Self.predict(m, y) } throws: { error in
                    guard let e = error as? ScoreError, case .badValue = e else { return false }
                    return e.message.contains("feature 2 is \(sqlSpelling(bad))")
                }
            }
            #expect { try Self.predict(m, [1]) } throws: { error in
                guard let e = error as? ScoreError, case .badShape = e else { return false }
                return true
            }
        }
        let r = try Self.regressor(.decisionTree, Self.regression())
        #expect(throws: ScoreError.self) { try Self.proba(r, [1, 2, 3]) }
    }

    @Test func classifyMatchesPredictAndProbabilities() throws {
        for m in [try Self.classifier(.randomForest, Self.threeClasses(), #"{"n_trees": 5}"#),
                  try Self.classifier(.gradientBoosting, Self.threeClasses(), #"{"n_trees": 5}"#),
                  try Self.classifier(.gradientBoosting, Self.binary(), #"{"n_trees": 5}"#)] {
            let s = Scorer(m)
            for x in Self.threeClasses(n: 30, seed: 3).x {
                let xx = Array((x + [0, 0]).prefix(m.featureCount))
                var p = [Double](repeating: 0, count: m.classes.count)
                let c = try typed { try xx.withUnsafeBufferPointer { xp in
                    try p.withUnsafeMutableBufferPointer { try s.classify(xp.baseAddress!, count: xx.count, probabilities: $0.baseAddress!) }
                } }
                #expect(try Self.cls(m, xx) == c)
                #expect(try Self.proba(m, xx) == p)
            }
        }
    }

    @Test func describeShowsTheTrees() throws {
        let m = try Self.classifier(.decisionTree, Classes(x: [[1], [2], [3], [4], [5], [6]], y: [0, 0, 0, 1, 1, 1], k: 2))
        let j = m.describeJSON
        #expect(j["algorithm"] == .string("decision_tree"))
        #expect(j["n_trees"] == .number(1))
        #expect(j["feature_importance"] == .array([.number(1)]))
        #expect(j["depth"]?["max"] == .number(1))
        #expect(j["trees"] == .array([.object([("nodes", .array([
            .object([("feature", .number(1)), ("threshold", .number(3.5)), ("missing", .string("left")),
                     ("left", .number(1)), ("right", .number(2))]),
            .object([("leaf", .array([.number(1), .number(0)]))]),
            .object([("leaf", .array([.number(0), .number(1)]))]),
        ]))])]))
        let g = try Self.classifier(.gradientBoosting, Self.threeClasses(), #"{"n_trees": 4}"#).describeJSON
        #expect(g["n_trees"] == .number(12) && g["rounds"] == .number(4))
        if case let .array(b)? = g["base_score"] { #expect(b.count == 3) } else { Issue.record("no base_score") }
        #expect(g["options"]?["features_per_split"] == .number(1))
        let f = try Self.classifier(.randomForest, Self.threeClasses(), #"{"n_trees": 2}"#).describeJSON
        #expect(f["options"]?["features_per_split"] == .string("sqrt"))
        #expect(f["options"]?["max_depth"] == .null)
    }

    // MARK: options and limits

    @Test func treeOptions() throws {
        let g = try TrainingOptions.parse("", for: .gradientBoosting)
        #expect(g.trees == 100 && g.maxDepth == 6 && g.learningRate == 0.1 && g.lambda == 1 && g.subsample == 1)
        #expect(g.nullsAsMissing && !g.skipNullFeatures && g.earlyStoppingRounds == 0 && g.maxBins == 255)
        let f = try TrainingOptions.parse(#"{"features_per_split": "log2", "max_depth": null, "nulls": "skip"}"#, for: .randomForest)
        #expect(f.featuresPerSplit == .log2 && f.maxDepth == 0 && f.skipNullFeatures && !f.nullsAsMissing)
        #expect(FeatureSubset.sqrt.count(features: 13, classification: true, algorithm: .randomForest) == 3)
        #expect(FeatureSubset.auto.count(features: 13, classification: false, algorithm: .randomForest) == 13)
        #expect(FeatureSubset.log2.count(features: 8, classification: true, algorithm: .randomForest) == 3)
        #expect(FeatureSubset.fraction(0.5).count(features: 5, classification: true, algorithm: .randomForest) == 2)
        for (a, json, text) in [
            (Algorithm.randomForest, #"{"n_trees": 0}"#, "whole number from 1 to 10000"),
            (.gradientBoosting, #"{"learning_rate": 0}"#, "greater than 0"),
            (.gradientBoosting, #"{"subsample": 1.5}"#, "at most 1"),
            (.gradientBoosting, #"{"lambda": -1}"#, "at least 0"),
            (.decisionTree, #"{"max_depth": 0}"#, "or null"),
            (.decisionTree, #"{"max_depth": 2.5}"#, "whole number"),
            (.decisionTree, #"{"features_per_split": 0}"#, "features_per_split"),
            (.decisionTree, #"{"features_per_split": "half"}"#, "features_per_split"),
            (.decisionTree, #"{"n_trees": 5}"#, "unknown option"),
            (.randomForest, #"{"learning_rate": 0.1}"#, "unknown option"),
            (.gradientBoosting, #"{"validation_fraction": 1}"#, "less than 1"),
            (.gradientBoosting, #"{"max_bins": 256}"#, "from 2 to 255"),
            (.randomForest, #"{"nulls": "zero"}"#, "\"missing\""),
            (.linearRegression, #"{"nulls": "missing"}"#, "\"error\" or \"skip\""),
            (.gradientBoosting, #"{"seed": -1}"#, "seed"),
        ] {
            #expect("\(json)", performing: { try TrainingOptions.parse(json, for: a) }, throws: { error in
                guard let e = error as? ScoreError, case .badValue = e else { return false }
                return e.message.contains(text)
            })
        }
        // more features asked than the rows have
        #expect(performing: { try Self.classifier(.randomForest, Self.binary(n: 50), #"{"features_per_split": 9}"#) }, throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("asks for 9 features, but the rows have 4")
        })
        // option JSON round trip
        for a in [Algorithm.decisionTree, .randomForest, .gradientBoosting] {
            var o = TrainingOptions(for: a)
            o.maxDepth = 3
            o.featuresPerSplit = .count(2)
            o.seed = 12
            let back = try TrainingOptions.parse(o.json(for: a), for: a)
            #expect(back.json(for: a) == o.json(for: a))
        }
    }

    @Test func unfitData() throws {
        #expect(performing: { try Self.classifier(.decisionTree, Classes(x: [[1], [2]], y: [0, 0], k: 1)) }, throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return true
        })
        #expect(performing: {
            try TreeModels.trainRegressor(.decisionTree, rows: ArrayRegressionRows(featureCount: 1, features: [1, 2], targets: [1, .nan]),
                                          options: TrainingOptions(for: .decisionTree))
        }, throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("label is NaN")
        })
        #expect(performing: {
            try Self.classifier(.randomForest, Classes(x: [[1], [.infinity]], y: [0, 1], k: 2))
        }, throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("feature 1 is Infinity")
        })
        // constant features, one row per class: a single leaf
        let m = try Self.classifier(.decisionTree, Classes(x: [[1, 1], [1, 1]], y: [0, 1], k: 2))
        #expect(Self.ensemble(m).nodeCount == 1)
        #expect(try Self.proba(m, [1, 1]) == [0.5, 0.5])
        // all missing
        let allMissing = try Self.regressor(.gradientBoosting, Values(x: [[.nan], [.nan], [.nan]], y: [1, 2, 3]), #"{"n_trees": 3}"#)
        #expect(abs(try Self.value(allMissing, [.nan]) - 2) < 1e-12)
    }

    @Test func modelSizeLimit() throws {
        var o = try Self.options(.randomForest, #"{"n_trees": 50}"#)
        o.maxModelBytes = 20_000
        #expect(performing: {
            try TreeModels.trainClassifier(.randomForest, rows: Self.binary().rows(), classOf: [0, 1], classes: [[48], [49]],
                                           labelKind: .integer, options: o)
        }, throws: { error in
            guard let e = error as? ScoreError, case .limit = e else { return false }
            return e.message.contains("more than")
        })
    }

    @Test func stopCheckInterrupts() throws {
        var calls = 0
        #expect(performing: {
            try TreeModels.trainClassifier(.gradientBoosting, rows: Self.binary().rows(), classOf: [0, 1], classes: [[48], [49]],
                                           labelKind: .integer, options: TrainingOptions(for: .gradientBoosting),
                                           stop: { calls += 1; return calls > 50 })
        }, throws: { error in (error as? ScoreError) == .interrupted })
    }

    @Test func manyDistinctValuesUseQuantileBins() throws {
        // 5000 distinct values: 255 bins; thresholds increasing; rows split evenly-ish.
        var g = SplitMix64(seed: 12)
        let x = (0..<5000).map { _ in [g.normal()] }
        let y = x.map { $0[0] > 0.3 ? 1.0 : 0.0 }
        let data = try TreeData.load(regression: ArrayRegressionRows(featureCount: 1, features: x.flatMap { $0 }, targets: y),
                                     maxBins: 255, stop: { false })
        #expect(data.binCount[0] == 255)
        let t = data.thresholds[0]
        #expect(zip(t, t.dropFirst()).allSatisfy { $0 < $1 })
        var counts = [Int](repeating: 0, count: 256)
        for i in 0..<data.n { counts[Int(data.codes[i])] += 1 }
        #expect(counts[0..<255].allSatisfy { $0 >= 10 && $0 <= 30 })
        // pass 3's fast search agrees with code() (rows are in canonical order: compare as multisets)
        #expect((0..<5000).map { Int(data.codes[$0]) }.sorted() == x.map { data.code($0[0], feature: 0) }.sorted())
        // the coded value agrees with the thresholds
        for v in [-10.0, t[0], t[0].nextUp, t[100], 10] {
            let c = data.code(v, feature: 0)
            #expect(c == 0 || v > t[c - 1])
            #expect(c == 254 || v <= t[c])
        }
        let m = try Self.regressor(.decisionTree, Values(x: x, y: y), #"{"max_depth": 1}"#)
        #expect(abs(Self.ensemble(m).threshold[0] - 0.3) < 0.02)
    }
}
