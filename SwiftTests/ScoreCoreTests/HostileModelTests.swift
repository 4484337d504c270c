import Testing
@testable import ScoreCore

/// Model values are hostile input: anyone can recompute the CRC-64, so every crafted
/// value must be refused with the right error kind, or decode into a model that scores,
/// describes and exports without trapping.
@Suite struct HostileModelTests {
    typealias Codec = ModelCodecTests

    // MARK: helpers

    /// Recomputes the header's body length and CRC-64 after an edit of the body.
    static func reseal(_ blob: [UInt8]) -> [UInt8] {
        guard blob.count >= 24 else { return blob }
        var b = blob
        b.replaceSubrange(8..<12, with: Codec.le(UInt64(b.count - 24), 4))
        b.replaceSubrange(16..<24, with: Codec.le(CRC64.checksum(Array(b[24...])), 8))
        return b
    }

    enum Kind { case badModel, limit, newer }

    static func kind(_ blob: [UInt8]) -> Kind? {
        switch Codec.decodeError(blob) {
        case .badModel?: return .badModel
        case .limit?: return .limit
        case .newerFormat?: return .newer
        default: return nil
        }
    }

    /// A one-split regression tree over d features (3 nodes: root, two leaves).
    static func stumpEnsemble(d: Int) -> TreeEnsemble {
        TreeEnsemble(combine: .average, outputs: 1, scores: 1, base: [0], treeStart: [0], treeScore: [0],
                     feature: [0, -1, -1], threshold: [0.5, 0, 0], missingLeft: [false, false, false],
                     left: [1, 0, 1], right: [2, -1, -1], values: [1, 2],
                     importance: [1] + [Double](repeating: 0, count: d - 1))
    }

    static func treeModel(_ e: TreeEnsemble, d: Int = 2) -> Model {
        Model(algorithm: .decisionTree, featureCount: d, trainingRows: 10, labelKind: .float8, classes: [],
              parameters: .trees(e))
    }

    /// A tree of 5 nodes whose arrays the caller edits: 0 → (1, 2), 1 → (3, 4).
    static func fiveNodes() -> TreeEnsemble {
        TreeEnsemble(combine: .average, outputs: 1, scores: 1, base: [0], treeStart: [0], treeScore: [0],
                     feature: [0, 1, -1, -1, -1], threshold: [0.5, 1.5, 0, 0, 0],
                     missingLeft: [false, true, false, false, false],
                     left: [1, 3, 0, 1, 2], right: [2, 4, -1, -1, -1], values: [1, 2, 3], importance: [0.5, 0.5])
    }

    // MARK: crafted values

    @Test func wellFormedTreesDecode() throws {
        let m = Self.treeModel(Self.fiveNodes())
        #expect(try ModelCodec.decode(ModelCodec.encode(m)) == m)
    }

    @Test func dagTreeIsRefused() {
        // node 2 turned into a split sharing node 1's children: a child reached from two parents
        var e = Self.fiveNodes()
        e.feature = [0, 1, 0, -1, -1]
        e.left = [1, 3, 3, 0, 1]
        e.right = [2, 4, 4, -1, -1]
        e.threshold = [0.5, 1.5, 0.25, 0, 0]
        e.values = [1, 2]
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
    }

    @Test func orphanNodeIsRefused() {
        // the node count disagrees with the children: node 4 is reached from nowhere
        var e = Self.fiveNodes()
        e.feature = [0, -1, -1, -1, -1]
        e.left = [1, 0, 1, 2, 3]
        e.right = [2, -1, -1, -1, -1]
        e.values = [1, 2, 3, 4]
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
    }

    @Test func cycleIsRefused() {
        var e = Self.fiveNodes()
        e.left[1] = 0   // back to the root
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
        e = Self.fiveNodes()
        e.right[1] = 1  // to itself
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
    }

    @Test func outOfRangeChildIsRefused() {
        var e = Self.fiveNodes()
        e.right[1] = 99
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
        e = Self.fiveNodes()
        e.left[1] = -7
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
        e = Self.fiveNodes()
        e.left[4] = 3   // leaf ordinal beyond the leaves
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
        e = Self.fiveNodes()
        e.left[4] = 0   // a leaf ordinal used twice
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
        e = Self.fiveNodes()
        e.feature[1] = 2   // feature index ≥ feature count
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel)
    }

    @Test func nodeCountDisagreeingWithTheArraysIsRefused() {
        var blob = ModelCodec.encode(Self.treeModel(Self.fiveNodes()))
        let s = Codec.sections(of: blob)
        var p = s[1].content
        // node count at parameter offset 16, leaf count at 20
        for (at, v) in [(16, 4), (16, 6), (20, 2), (20, 4)] {
            p = s[1].content
            p.replaceSubrange(at..<(at + 4), with: Codec.le(UInt64(v), 4))
            var t = s
            t[1].content = p
            blob = Codec.assemble(t)
            #expect(Self.kind(blob) == .badModel, "offset \(at) value \(v)")
        }
    }

    @Test func tooManyFeaturesIsALimit() {
        #expect(Self.kind(ModelCodec.encode(Self.treeModel(Self.stumpEnsemble(d: 65_537), d: 65_537))) == .limit)
        let wide = Model(algorithm: .linearRegression, featureCount: 4000, trainingRows: 1, labelKind: .float8, classes: [],
                         parameters: .linear(intercept: 0, coefficients: [Double](repeating: 0.5, count: 4000)))
        #expect(Self.kind(ModelCodec.encode(wide)) == .limit)
        // the limit itself is fine
        let edge = Model(algorithm: .linearRegression, featureCount: ModelCodec.maxFeatures, trainingRows: 1, labelKind: .float8,
                         classes: [], parameters: .linear(intercept: 0, coefficients: [Double](repeating: 0.5, count: ModelCodec.maxFeatures)))
        #expect(Self.kind(ModelCodec.encode(edge)) == nil)
    }

    @Test func tooManyClassesIsALimit() {
        let k = 3000
        let m = Model(algorithm: .logisticRegression, featureCount: 1, trainingRows: 1, labelKind: .text,
                      classes: (0..<k).map { Array("c\($0)".utf8) },
                      parameters: .logistic(intercepts: [Double](repeating: 0, count: k),
                                            coefficients: [[Double]](repeating: [1], count: k)))
        #expect(Self.kind(ModelCodec.encode(m)) == .limit)
    }

    @Test func trailingBytesAreRefused() {
        let blob = ModelCodec.encode(Codec.models[1])
        #expect(Self.kind(Self.reseal(blob + [0])) == .badModel)
        #expect(Self.kind(Self.reseal(blob + [1, 0, 1, 0, 0, 0, 0, 0])) == .badModel)
        // trailing bytes inside the core and the parameter sections
        var s = Codec.sections(of: blob)
        s[0].content += [0]
        #expect(Self.kind(Codec.assemble(s)) == .badModel)
        s = Codec.sections(of: blob)
        s[1].content += Codec.le(0, 8)
        #expect(Self.kind(Codec.assemble(s)) == .badModel)
    }

    @Test func repeatedUnknownOrMissingSectionsAreRefused() {
        let s = Codec.sections(of: ModelCodec.encode(Codec.models[2]))
        #expect(Self.kind(Codec.assemble(s + [s[3]])) == .badModel, "info twice")
        #expect(Self.kind(Codec.assemble([s[0], s[0]] + s[1...])) == .badModel, "core twice")
        #expect(Self.kind(Codec.assemble(s + [Codec.Section(tag: 5, flags: 0, content: [])])) == .badModel, "unknown optional")
        #expect(Self.kind(Codec.assemble(s + [Codec.Section(tag: 77, flags: 1, content: [])])) == .newer, "unknown required")
        #expect(Self.kind(Codec.assemble([s[1], s[0], s[2], s[3]])) == .badModel, "order")
        #expect(Self.kind(Codec.assemble(Array(s[0..<3]))) == .badModel, "no info")
        var t = s
        t[2].flags = 1
        #expect(Self.kind(Codec.assemble(t)) == .badModel, "flags")
    }

    @Test func nonZeroReservedBytesAreRefused() {
        let blob = ModelCodec.encode(Codec.models[1])
        var s = Codec.sections(of: blob)
        s[0].content[3] = 1
        #expect(Self.kind(Codec.assemble(s)) == .badModel)
        var b = blob
        b[6] = 1
        #expect(Self.kind(b) == .badModel)
        b = blob
        b[12] = 1
        #expect(Self.kind(b) == .badModel)
        // the tree ensemble's reserved bytes
        s = Codec.sections(of: ModelCodec.encode(Self.treeModel(Self.fiveNodes())))
        s[1].content[2] = 1
        #expect(Self.kind(Codec.assemble(s)) == .badModel)
    }

    @Test func nonFiniteParametersAreRefused() {
        for bad in [Double.nan, .infinity, -.infinity] {
            var e = Self.fiveNodes()
            e.threshold[1] = bad
            #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel, "threshold \(bad)")
            e = Self.fiveNodes()
            e.values[2] = bad
            #expect(Self.kind(ModelCodec.encode(Self.treeModel(e))) == .badModel, "leaf \(bad)")
        }
        // a tiny variance whose inverse overflows
        var m = Codec.models[3]
        m.parameters = .naiveBayes(prior: [0.25, 0.5, 0.25], means: [[1], [-2], [3.5]], variances: [[0.5], [Double.leastNonzeroMagnitude * 4], [2]])
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel)
    }

    @Test func badLabelsAreRefused() {
        var m = Codec.models[2]
        m.classes[1] = [0x66, 0xFF, 0x66]
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel, "invalid UTF-8")
        m = Codec.models[2]
        m.classes[1] = [0x61, 0, 0x62]
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel, "NUL")
        m = Codec.models[2]
        m.classes[1] = m.classes[0]
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel, "repeated label")
        m = Codec.models[1]
        m.classes[1] = Array("yes".utf8)
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel, "boolean label")
        m = Codec.models[3]
        m.classes[1] = Array("4.5".utf8)
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel, "integer label")
    }

    @Test func badInfoAndOptionsAreRefused() {
        func check(info: String = "{}", options: String = "{}", _ what: Comment) {
            var m = Codec.models[0]
            m.info = info
            m.options = options
            #expect(Self.kind(ModelCodec.encode(m)) == .badModel, what)
        }
        check(info: "not json", "info not JSON")
        check(info: "[1]", "info not an object")
        check(options: "{\"a\":", "options cut")
        check(info: #"{"x":"a\u0000b"}"#, "NUL in info")
        check(info: #"{"preprocess":{"columns":[{"name":"a","kind":"numeric"}]}}"#, "preprocessing encodes 1 feature, model has 3")
        check(info: #"{"preprocess":{"columns":[{"name":"a","kind":"numeric"},{"name":"a","kind":"numeric"},{"name":"b","kind":"numeric"}]}}"#,
              "repeated column name")
        check(info: #"{"preprocess":{"columns":[{"name":"a","kind":"numeric"},{"kind":"numeric"},{"name":"b","kind":"numeric"}]}}"#,
              "column without a name")
        check(info: #"{"preprocess":{"columns":[{"name":"a","kind":"numeric"},{"name":"c","kind":"weird"},{"name":"b","kind":"numeric"}]}}"#,
              "unknown kind")
        check(info: #"{"preprocess":{"columns":[{"name":"a","kind":"numeric","scale":1e-320},{"name":"c","kind":"numeric"},{"name":"b","kind":"numeric"}]}}"#,
              "tiny scale")
        // invalid UTF-8 bytes in the info section
        var s = Codec.sections(of: ModelCodec.encode(Codec.models[0]))
        s[3].content = Array(#"{"x":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(Self.kind(Codec.assemble(s)) == .badModel, "invalid UTF-8 info")
        // a consistent spec is accepted
        var m = Codec.models[0]
        m.info = #"{"preprocess":{"columns":[{"name":"a","kind":"numeric"},{"name":"c","kind":"categorical","categories":["x","y"]}]}}"#
        #expect(Self.kind(ModelCodec.encode(m)) == nil)
    }

    @Test func classProbabilitiesOfLeavesMustSumToOne() {
        let e = TreeEnsemble(combine: .average, outputs: 2, scores: 2, base: [0, 0], treeStart: [0], treeScore: [0],
                             feature: [0, -1, -1], threshold: [0.5, 0, 0], missingLeft: [false, false, false],
                             left: [1, 0, 1], right: [2, -1, -1], values: [0.25, 0.75, 0.9, 0.9], importance: [1, 0])
        let m = Model(algorithm: .decisionTree, featureCount: 2, trainingRows: 10, labelKind: .text,
                      classes: [Array("a".utf8), Array("b".utf8)], parameters: .trees(e))
        #expect(Self.kind(ModelCodec.encode(m)) == .badModel)
    }

    @Test func overflowingScoresAreOutOfRange() throws {
        let m = Model(algorithm: .linearRegression, featureCount: 2, trainingRows: 1, labelKind: .float8, classes: [],
                      parameters: .linear(intercept: 0, coefficients: [1e308, 1e308]))
        let s = Scorer(try ModelCodec.decode(ModelCodec.encode(m)))
        let x: [Double] = [10, 10]
        #expect(throws: ScoreError.outOfRange("the model's score for these features is not a finite number")) {
            _ = try typed { try x.withUnsafeBufferPointer { try s.predict($0.baseAddress!, count: 2) } }
        }
        // multinomial logistic regression whose scores overflow: no NaN probabilities
        let l = Model(algorithm: .logisticRegression, featureCount: 1, trainingRows: 1, labelKind: .text,
                      classes: ["a", "b", "c"].map { Array($0.utf8) },
                      parameters: .logistic(intercepts: [0, 0, 0], coefficients: [[1e308], [-1e308], [0]]))
        let ls = Scorer(l)
        var out = [Double](repeating: 0, count: 3)
        let big: [Double] = [1e10]
        #expect(throws: ScoreError.self) {
            try typed { try big.withUnsafeBufferPointer { b in
                try out.withUnsafeMutableBufferPointer { try ls.probabilities(b.baseAddress!, count: 1, into: $0.baseAddress!) }
            } }
        }
    }

    // MARK: mutation campaign

    /// Real models: the codec fixtures, trained trees of each kind, one with preprocessing.
    static func seeds() throws -> [[UInt8]] {
        var models = Codec.models
        let tiny = #"{"n_trees": 3, "max_depth": 3}"#
        models.append(try TreeTests.classifier(.randomForest, TreeTests.binary(n: 200), tiny))
        models.append(try TreeTests.classifier(.gradientBoosting, TreeTests.threeClasses(n: 150), tiny))
        models.append(try TreeTests.classifier(.decisionTree, TreeTests.threeClasses(n: 150), #"{"max_depth": 4}"#))
        var r = try TreeTests.regressor(.gradientBoosting, TreeTests.regression(n: 200), tiny)
        r.info = #"{"preprocess":{"columns":[{"name":"a","kind":"numeric","impute":0.5,"center":1,"scale":2},{"name":"b","kind":"numeric","keep_missing":true},{"name":"c","kind":"numeric"}]}}"#
        models.append(r)
        return models.map(ModelCodec.encode)
    }

    /// Whatever decodes must score, describe and export without trapping, with finite
    /// results and probabilities that sum to 1, and must be the canonical encoding.
    static func exercise(_ m: Model, _ blob: [UInt8], _ g: inout SplitMix64) {
        #expect(ModelCodec.encode(m) == blob, "an accepted value is not the canonical encoding")
        let s = Scorer(m)
        _ = m.describeJSON.serialized
        _ = try? OnnxExport.export(m)
        _ = try? m.preprocessor()
        var out = [Double](repeating: 0, count: max(m.classes.count, 2))
        for trial in 0..<4 {
            let x = (0..<m.featureCount).map { j -> Double in
                trial == 3 && j == 0 ? .nan : g.uniform(-1e3, 1e3) * (trial == 2 ? 1e200 : 1)
            }
            let prediction = try? typed { try x.withUnsafeBufferPointer { try s.predict($0.baseAddress!, count: x.count) } }
            if case let .value(v)? = prediction { #expect(v.isFinite) }
            if case let .classIndex(c)? = prediction { #expect(c >= 0 && c < m.classes.count) }
            if m.isClassifier {
                let ok: Bool = (try? typed { try x.withUnsafeBufferPointer { b in
                    try out.withUnsafeMutableBufferPointer { try s.probabilities(b.baseAddress!, count: x.count, into: $0.baseAddress!) }
                } }) != nil
                if ok {
                    let p = out.prefix(m.classes.count)
                    #expect(p.allSatisfy { $0.isFinite && $0 >= 0 })
                    #expect(abs(p.reduce(0, +) - 1) <= 1e-9)
                }
            }
        }
    }

    @Test func mutatedModelsFailCleanlyOrWork() throws {
        let seeds = try Self.seeds()
        for blob in seeds { #expect(Self.kind(blob) == nil, "a seed model does not decode") }
        var g = SplitMix64(seed: 20_261_203)
        var accepted = 0, refused = 0
        for _ in 0..<4000 {
            var b = seeds[Int(g.next() % UInt64(seeds.count))]
            let edits = 1 + Int(g.next() % 3)
            for _ in 0..<edits {
                let at = 24 + Int(g.next() % UInt64(max(b.count - 24, 1)))
                switch g.next() % 6 {
                case 0: b[min(at, b.count - 1)] ^= UInt8(1 << (g.next() % 8))
                case 1: b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: g.next())
                case 2: b.removeSubrange(min(at, b.count)...)
                case 3:  // splice in a piece of another model
                    let other = seeds[Int(g.next() % UInt64(seeds.count))]
                    let from = Int(g.next() % UInt64(other.count))
                    let n = Int(g.next() % 64)
                    b.insert(contentsOf: other[from..<min(from + n, other.count)], at: min(at, b.count))
                case 4:  // a 32-bit field set to an interesting value
                    let v: [UInt64] = [0, 1, 2, 3, 0xFFFF, 0x10001, 0x7FFF_FFFF, 0xFFFF_FFFF, 1000, 1001]
                    let w = Codec.le(v[Int(g.next() % UInt64(v.count))], 4)
                    if at + 4 <= b.count { b.replaceSubrange(at..<(at + 4), with: w) }
                default: b.removeSubrange(min(at, b.count)..<min(at + Int(g.next() % 16), b.count))
                }
            }
            b = Self.reseal(b)
            if let m = try? ModelCodec.decode(b) {
                accepted += 1
                Self.exercise(m, b, &g)
            } else {
                refused += 1
            }
        }
        #expect(refused > 0 && accepted + refused == 4000)
    }
}
