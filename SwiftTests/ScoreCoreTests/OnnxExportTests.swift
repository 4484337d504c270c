import Testing
@testable import ScoreCore

/// A minimal protobuf reader, independent of ProtobufWriter: enough to walk our own
/// ONNX bytes back into fields.
struct ProtoField {
    var number: Int
    var wire: UInt8
    var varint: UInt64 = 0
    var bytes: [UInt8] = []

    var string: String { String(decoding: bytes, as: UTF8.self) }
    var message: [ProtoField] { (try? ProtoField.parse(bytes)) ?? [] }

    struct Malformed: Error {}

    static func parse(_ data: [UInt8]) throws -> [ProtoField] {
        var pos = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard pos < data.count, shift < 64 else { throw Malformed() }
                let b = data[pos]
                pos += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        func take(_ n: Int) throws -> [UInt8] {
            guard n >= 0, pos + n <= data.count else { throw Malformed() }
            defer { pos += n }
            return Array(data[pos..<(pos + n)])
        }
        var fields: [ProtoField] = []
        while pos < data.count {
            let key = try varint()
            var f = ProtoField(number: Int(key >> 3), wire: UInt8(key & 7))
            switch f.wire {
            case 0: f.varint = try varint()
            case 1: f.bytes = try take(8)
            case 2: f.bytes = try take(Int(try varint()))
            case 5: f.bytes = try take(4)
            default: throw Malformed()
            }
            fields.append(f)
        }
        return fields
    }
}

extension Array where Element == ProtoField {
    func all(_ n: Int) -> [ProtoField] { filter { $0.number == n } }
    func first(_ n: Int) -> ProtoField? { first { $0.number == n } }
    func strings(_ n: Int) -> [String] { all(n).map(\.string) }
}

/// Little-endian float32 values of raw bytes (packed floats, raw_data).
func littleEndianFloats(_ b: [UInt8]) -> [Float] {
    var out: [Float] = []
    var i = 0
    while i + 4 <= b.count {
        var bits: UInt32 = 0
        for j in 0..<4 { bits |= UInt32(b[i + j]) << UInt32(8 * j) }
        out.append(Float(bitPattern: bits))
        i += 4
    }
    return out
}

/// Varints of a packed repeated field.
func packedVarints(_ b: [UInt8]) -> [Int64] {
    var out: [Int64] = []
    var v: UInt64 = 0
    var shift: UInt64 = 0
    for byte in b {
        v |= UInt64(byte & 0x7F) << shift
        if byte < 0x80 {
            out.append(Int64(bitPattern: v))
            v = 0
            shift = 0
        } else {
            shift += 7
        }
    }
    return out
}

/// What the tests look at in a decoded ModelProto.
struct DecodedOnnx {
    struct Node {
        var op: String; var domain: String; var inputs: [String]; var outputs: [String]; var attributes: [String: ProtoField]

        func ints(_ name: String) -> [Int64] { packedVarints(attributes[name]?.message.first(8)?.bytes ?? []) }
        func floats(_ name: String) -> [Float] { littleEndianFloats(attributes[name]?.message.first(7)?.bytes ?? []) }
        func strings(_ name: String) -> [String] { attributes[name]?.message.strings(9) ?? [] }
        func text(_ name: String) -> String? { attributes[name]?.message.first(4)?.string }
        func int(_ name: String) -> Int64? { attributes[name]?.message.first(3).map { Int64(bitPattern: $0.varint) } }
    }
    var irVersion: UInt64
    var producer: String
    var opsets: [String: UInt64]
    var nodes: [Node]
    /// name → (elem_type, dims as "N" or numbers)
    var inputs: [(String, UInt64, [String])]
    var outputs: [(String, UInt64, [String])]
    var initializers: [String: [UInt8]]

    init(_ bytes: [UInt8]) throws {
        let model = try ProtoField.parse(bytes)
        irVersion = model.first(1)?.varint ?? 0
        producer = model.first(2)?.string ?? ""
        opsets = [:]
        for o in model.all(8).map(\.message) { opsets[o.first(1)?.string ?? ""] = o.first(2)?.varint }
        let graph = model.first(7)?.message ?? []
        nodes = graph.all(1).map(\.message).map { n in
            var attrs: [String: ProtoField] = [:]
            for a in n.all(5) {
                let m = a.message
                attrs[m.first(1)?.string ?? ""] = a
            }
            return Node(op: n.first(4)?.string ?? "", domain: n.first(7)?.string ?? "",
                        inputs: n.strings(1), outputs: n.strings(2), attributes: attrs)
        }
        func value(_ f: ProtoField) -> (String, UInt64, [String]) {
            let v = f.message
            let tensor = v.first(2)?.message.first(1)?.message ?? []
            let dims = (tensor.first(2)?.message ?? []).all(1).map { d -> String in
                let dm = d.message
                if let p = dm.first(2) { return p.string }
                return String(dm.first(1)?.varint ?? 0)
            }
            return (v.first(1)?.string ?? "", tensor.first(1)?.varint ?? 0, dims)
        }
        inputs = graph.all(11).map(value)
        outputs = graph.all(12).map(value)
        initializers = [:]
        for t in graph.all(5).map(\.message) { initializers[t.first(8)?.string ?? ""] = t.first(9)?.bytes ?? [] }
    }

    var ops: [String] { nodes.map(\.op) }

    /// Packed floats of attribute `name` of the first node doing `op`.
    func floats(_ op: String, _ name: String) -> [Float] {
        guard let a = nodes.first(where: { $0.op == op })?.attributes[name]?.message.first(7)?.bytes else { return [] }
        return littleEndianFloats(a)
    }

    /// Packed int64s of attribute `name` of the first node doing `op`.
    func ints(_ op: String, _ name: String) -> [Int64] {
        guard let node = nodes.first(where: { $0.op == op }) else { return [] }
        return node.ints(name)
    }

    func strings(_ op: String, _ name: String) -> [String] {
        nodes.first(where: { $0.op == op })?.attributes[name]?.message.strings(9) ?? []
    }

    func int(_ op: String, _ name: String) -> UInt64? {
        nodes.first(where: { $0.op == op })?.attributes[name]?.message.first(3)?.varint
    }

    func text(_ op: String, _ name: String) -> String? {
        nodes.first(where: { $0.op == op })?.attributes[name]?.message.first(4)?.string
    }

    /// Every node input is a graph input, an initializer or an earlier node's output.
    var isTopologicallyWired: Bool {
        var known = Set(inputs.map(\.0)).union(initializers.keys)
        for n in nodes {
            guard n.inputs.allSatisfy(known.contains) else { return false }
            known.formUnion(n.outputs)
        }
        return outputs.allSatisfy { known.contains($0.0) }
    }
}

@Suite struct OnnxExportTests {
    // MARK: protobuf wire format

    @Test func varintsOfKnownValues() {
        func encoded(_ v: UInt64) -> [UInt8] {
            var w = ProtobufWriter()
            w.varint(v)
            return w.bytes
        }
        #expect(encoded(0) == [0x00])
        #expect(encoded(1) == [0x01])
        #expect(encoded(127) == [0x7F])
        #expect(encoded(128) == [0x80, 0x01])
        #expect(encoded(150) == [0x96, 0x01])          // the protobuf documentation's example
        #expect(encoded(300) == [0xAC, 0x02])
        #expect(encoded(16_384) == [0x80, 0x80, 0x01])
        #expect(encoded(UInt64.max) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    @Test func fieldsOfKnownValues() {
        var w = ProtobufWriter()
        w.int(1, 150)
        #expect(w.bytes == [0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.string(2, "testing")
        #expect(w.bytes == [0x12, 0x07] + Array("testing".utf8))
        w = ProtobufWriter()
        w.int(3, -1)                                     // int64 −1: ten bytes
        #expect(w.bytes == [0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        w = ProtobufWriter()
        w.float(2, 1.0)                                  // fixed32, 0x3F800000 little-endian
        #expect(w.bytes == [0x15, 0x00, 0x00, 0x80, 0x3F])
        w = ProtobufWriter()
        w.packedInts(4, [3, 270, 86942])                 // the documentation's packed example
        #expect(w.bytes == [0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05])
        w = ProtobufWriter()
        w.packedFloats(7, [1, -2])
        #expect(w.bytes == [0x3A, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
        w = ProtobufWriter()
        w.message(3) { $0.int(1, 150) }                  // nested: length-prefixed
        #expect(w.bytes == [0x1A, 0x03, 0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.int(20, 2)                                     // field 20: two-byte key
        #expect(w.bytes == [0xA0, 0x01, 0x02])
    }

    // MARK: graphs

    @Test func linearRegressionGraph() throws {
        let m = Model(algorithm: .linearRegression, featureCount: 2, trainingRows: 10, labelKind: .float8, classes: [],
                      parameters: .linear(intercept: 0.5, coefficients: [2, -3]))
        let d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.irVersion == 8)
        #expect(d.producer == "pgscore")
        #expect(d.opsets == ["": 17, "ai.onnx.ml": 3])
        #expect(d.ops == ["LinearRegressor"])
        #expect(d.nodes[0].domain == "ai.onnx.ml")
        #expect(d.inputs.map(\.0) == ["features"])
        #expect(d.inputs[0].1 == 1 && d.inputs[0].2 == ["N", "2"])
        #expect(d.outputs.map(\.0) == ["variable"])
        #expect(d.outputs[0].2 == ["N", "1"])
        #expect(d.floats("LinearRegressor", "coefficients") == [2, -3])
        #expect(d.floats("LinearRegressor", "intercepts") == [0.5])
        #expect(d.isTopologicallyWired)
    }

    @Test func binaryLogisticGraphHasTwoOpposedRows() throws {
        let m = Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 10, labelKind: .boolean,
                      classes: [Array("false".utf8), Array("true".utf8)],
                      parameters: .logistic(intercepts: [0.25], coefficients: [[1, -2]]))
        let d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.ops == ["LinearClassifier"])
        #expect(d.outputs.map(\.0) == ["label", "probabilities"])
        #expect(d.outputs[0].1 == 8 && d.outputs[0].2 == ["N"])          // string labels
        #expect(d.outputs[1].1 == 1 && d.outputs[1].2 == ["N", "2"])
        #expect(d.floats("LinearClassifier", "coefficients") == [-1, 2, 1, -2])
        #expect(d.floats("LinearClassifier", "intercepts") == [-0.25, 0.25])
        #expect(d.strings("LinearClassifier", "classlabels_strings") == ["false", "true"])
        #expect(d.text("LinearClassifier", "post_transform") == "LOGISTIC")
    }

    @Test func multinomialLogisticWithIntegerLabels() throws {
        let m = Model(algorithm: .logisticRegression, featureCount: 1, trainingRows: 10, labelKind: .integer,
                      classes: ["-3", "7", "42"].map { Array($0.utf8) },
                      parameters: .logistic(intercepts: [1, 2, 3], coefficients: [[4], [5], [6]]))
        let d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.text("LinearClassifier", "post_transform") == "SOFTMAX")
        #expect(d.floats("LinearClassifier", "coefficients") == [4, 5, 6])
        let ints = d.nodes[0].attributes["classlabels_ints"]?.message.first(8)?.bytes
        #expect(ints == [0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x07, 0x2A])   // −3, 7, 42
        #expect(d.outputs[0].1 == 7)                                      // int64 labels
        #expect(d.outputs[1].2 == ["N", "3"])
    }

    @Test func naiveBayesGraphFromStandardOps() throws {
        let m = Model(algorithm: .naiveBayes, featureCount: 2, trainingRows: 10, labelKind: .text,
                      classes: ["a", "b"].map { Array($0.utf8) },
                      parameters: .naiveBayes(prior: [0.25, 0.75], means: [[0, 1], [2, 3]], variances: [[1, 4], [0.5, 2]]))
        let d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.ops == ["Unsqueeze", "Sub", "Mul", "Mul", "ReduceSum", "Add", "Softmax", "ArgMax", "LabelEncoder"])
        #expect(d.nodes.filter { $0.domain == "ai.onnx.ml" }.map(\.op) == ["LabelEncoder"])
        #expect(d.nodes.first { $0.op == "Softmax" }?.outputs == ["probabilities"])
        #expect(d.nodes.first { $0.op == "LabelEncoder" }?.outputs == ["label"])
        #expect(d.strings("LabelEncoder", "values_strings") == ["a", "b"])
        #expect(d.int("ArgMax", "keepdims") == 0)
        #expect(d.inputs.map(\.0) == ["features"])
        #expect(d.outputs.map(\.0) == ["label", "probabilities"])
        #expect(d.isTopologicallyWired)
        // −½/σ² per class and feature, little-endian float32
        let hp = d.initializers["pgscore.nb.half_precision"] ?? []
        #expect(littleEndianFloats(hp) == [-0.5, -0.125, -1, -0.25])
    }

    @Test func naiveBayesGraphMatchesScorer() throws {
        // Evaluate the exported constants by hand (in Double) and compare with Scorer.
        let m = Model(algorithm: .naiveBayes, featureCount: 2, trainingRows: 10, labelKind: .text,
                      classes: ["a", "b", "c"].map { Array($0.utf8) },
                      parameters: .naiveBayes(prior: [0.2, 0.3, 0.5], means: [[0, 1], [2, 3], [-1, 0]],
                                              variances: [[1, 4], [0.5, 2], [3, 1]]))
        let d = try DecodedOnnx(try OnnxExport.export(m))
        func floats(_ name: String) -> [Double] {
            littleEndianFloats(d.initializers[name] ?? []).map { Double($0) }
        }
        let mu = floats("pgscore.nb.means"), hp = floats("pgscore.nb.half_precision"), c = floats("pgscore.nb.offsets")
        let x = [0.5, 2.0]
        var jll = [Double](repeating: 0, count: 3)
        for k in 0..<3 {
            jll[k] = c[k]
            for j in 0..<2 { jll[k] += hp[k * 2 + j] * (x[j] - mu[k * 2 + j]) * (x[j] - mu[k * 2 + j]) }
        }
        let top = jll.max()!
        let z = jll.map { _exp($0 - top) }.reduce(0, +)
        let p = jll.map { _exp($0 - top) / z }
        var expected = [Double](repeating: 0, count: 3)
        let scorer = Scorer(m)
        try x.withUnsafeBufferPointer { xp in
            try expected.withUnsafeMutableBufferPointer { out in
                try scorer.probabilities(xp.baseAddress!, count: 2, into: out.baseAddress!)
            }
        }
        #expect(allApprox(p, expected, 1e-6))
    }

    @Test func preprocessingInputsAndEncodedOrder() throws {
        let spec = #"""
            {"preprocess": {"columns": [
              {"name": "color", "type": "text", "kind": "categorical", "categories": ["red", "green"], "unknown": "error"},
              {"name": "age", "type": "float8", "kind": "numeric", "impute": 40, "center": 38, "scale": 12, "missing": []},
              {"name": "size", "type": "text", "kind": "categorical", "categories": ["S", "M", "L"], "unknown": "ignore"},
              {"name": "chol", "type": "float8", "kind": "numeric", "impute": 240, "center": 246, "scale": 51, "missing": ["?"]}
            ]}}
            """#
        let m = Model(algorithm: .linearRegression, featureCount: 7, trainingRows: 10, labelKind: .float8, classes: [],
                      parameters: .linear(intercept: 1, coefficients: [1, 2, 3, 4, 5, 6, 7]), info: spec)
        let d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.inputs.map(\.0) == ["numeric", "color", "size"])
        #expect(d.inputs[0].1 == 1 && d.inputs[0].2 == ["N", "2"])
        #expect(d.inputs[1].1 == 8 && d.inputs[1].2 == ["N", "1"])
        #expect(d.ops == ["Imputer", "Scaler", "OneHotEncoder", "Reshape", "OneHotEncoder", "Reshape", "Concat", "LinearRegressor"])
        #expect(d.floats("Imputer", "imputed_value_floats") == [40, 240])
        #expect(d.floats("Imputer", "replaced_value_float").isEmpty)      // a single float, not a list
        let replaced = d.nodes[0].attributes["replaced_value_float"]?.message.first(2)?.bytes ?? []
        #expect(replaced.count == 4 && littleEndianFloats(replaced)[0].isNaN)
        #expect(d.floats("Scaler", "offset") == [38, 246])
        #expect(d.floats("Scaler", "scale") == [Float(1.0 / 12), Float(1.0 / 51)])
        #expect(d.strings("OneHotEncoder", "cats_strings") == ["red", "green"])
        let concat = d.nodes.first { $0.op == "Concat" }
        #expect(concat?.inputs == ["pgscore.scaled", "pgscore.encoded.0", "pgscore.encoded.1"])
        #expect(d.nodes.last?.inputs == ["pgscore.features"])
        #expect(d.isTopologicallyWired)
    }

    @Test func refusesNamesThatCollide() throws {
        let spec = #"""
            {"preprocess": {"columns": [
              {"name": "label", "type": "text", "kind": "categorical", "categories": ["x", "y"]}]}}
            """#
        let m = Model(algorithm: .naiveBayes, featureCount: 2, trainingRows: 10, labelKind: .text,
                      classes: ["a", "b"].map { Array($0.utf8) },
                      parameters: .naiveBayes(prior: [0.5, 0.5], means: [[0, 1], [1, 0]], variances: [[1, 1], [1, 1]]),
                      info: spec)
        #expect(throws: ScoreError.self) { try OnnxExport.export(m) }
    }

    @Test func refusesParametersBeyondFloat32() {
        let m = Model(algorithm: .linearRegression, featureCount: 1, trainingRows: 10, labelKind: .float8, classes: [],
                      parameters: .linear(intercept: 1e300, coefficients: [1]))
        #expect(throws: ScoreError.self) { try OnnxExport.export(m) }
    }
}

/// A tree ensemble node of a decoded graph, evaluated as the ONNX-ML specification
/// describes it, in float32: independent of the exporter's code.
struct OnnxTrees {
    let node: DecodedOnnx.Node
    let prefix: String
    var index: [[Int64]: Int] = [:]
    let treeIds: [Int64], nodeIds: [Int64], featureIds: [Int64], trueIds: [Int64], falseIds: [Int64], missing: [Int64]
    let thresholds: [Float]
    let modes: [String]
    /// (tree, node) → [(target or class id, weight)]
    var leafWeights: [[Int64]: [(Int64, Float)]] = [:]
    var trees: Int { Set(treeIds).count }

    init(_ node: DecodedOnnx.Node) {
        self.node = node
        prefix = node.op == "TreeEnsembleClassifier" ? "class" : "target"
        treeIds = node.ints("nodes_treeids")
        nodeIds = node.ints("nodes_nodeids")
        featureIds = node.ints("nodes_featureids")
        trueIds = node.ints("nodes_truenodeids")
        falseIds = node.ints("nodes_falsenodeids")
        missing = node.ints("nodes_missing_value_tracks_true")
        thresholds = node.floats("nodes_values")
        modes = node.strings("nodes_modes")
        for i in treeIds.indices { index[[treeIds[i], nodeIds[i]]] = i }
        let wt = node.ints("\(prefix)_treeids"), wn = node.ints("\(prefix)_nodeids"), wi = node.ints("\(prefix)_ids")
        let w = node.floats("\(prefix)_weights")
        for j in wt.indices { leafWeights[[wt[j], wn[j]], default: []].append((wi[j], w[j])) }
    }

    /// Per id: the sum of the weights of the leaves `x` reaches.
    func sums(_ x: [Float], ids: Int) -> [Float] {
        var out = [Float](repeating: 0, count: ids)
        for t in Set(treeIds).sorted() {
            var i = index[[t, 0]]!
            while modes[i] != "LEAF" {
                #expect(modes[i] == "BRANCH_LEQ")
                let v = x[Int(featureIds[i])]
                let go = v <= thresholds[i] || (missing[i] == 1 && v.isNaN)
                i = index[[t, go ? trueIds[i] : falseIds[i]]]!
            }
            for (id, w) in leafWeights[[t, nodeIds[i]]] ?? [] { out[Int(id)] += w }
        }
        return out
    }
}

@Suite struct OnnxTreeExportTests {
    /// 3 classes: root "x₁ ≤ 0.1" (missing left) → leaf 0 | "x₀ ≤ max" (missing right) → leaves 1, 2.
    static func smallTree(_ algorithm: Algorithm = .decisionTree) -> Model {
        let e = TreeEnsemble(combine: .average, outputs: 3, scores: 3, base: [0, 0, 0], treeStart: [0], treeScore: [0],
                             feature: [1, -1, 0, -1, -1], threshold: [0.1, 0, .greatestFiniteMagnitude, 0, 0],
                             missingLeft: [true, false, false, false, false], left: [1, 0, 3, 1, 2], right: [2, -1, 4, -1, -1],
                             values: [1, 0, 0, 0, 0.5, 0.5, 0.25, 0.25, 0.5], importance: [0.5, 0.5])
        return Model(algorithm: algorithm, featureCount: 2, trainingRows: 10, labelKind: .text,
                     classes: ["a", "b", "c"].map { Array($0.utf8) }, parameters: .trees(e))
    }

    @Test func thresholdsRoundDownToFloat32() {
        #expect(OnnxExport.floatThreshold(0.5) == 0.5)                       // exact stays
        let t = 0.1                                                           // Float(0.1) > 0.1
        let f = OnnxExport.floatThreshold(t)
        #expect(Double(f) <= t && Double(f.nextUp) > t)
        #expect(Float(t) > f)                                                 // so not the nearest
        #expect(OnnxExport.floatThreshold(-0.1) == Float(-0.1))               // nearest is below here
        #expect(OnnxExport.floatThreshold(.greatestFiniteMagnitude) == .infinity)
        #expect(OnnxExport.floatThreshold(-.greatestFiniteMagnitude) == -.infinity)
        // two neighbouring float32 values a < b: the midpoint's threshold keeps them apart
        let a = Float(1.25), b = a.nextUp
        let mid = OnnxExport.floatThreshold(Double(a) / 2 + Double(b) / 2)
        #expect(a <= mid && !(b <= mid))
    }

    @Test func decisionTreeClassifierGraph() throws {
        let d = try DecodedOnnx(try OnnxExport.export(Self.smallTree()))
        #expect(d.ops == ["TreeEnsembleClassifier"])
        #expect(d.nodes[0].domain == "ai.onnx.ml")
        #expect(d.outputs.map(\.0) == ["label", "probabilities"])
        #expect(d.outputs[1].2 == ["N", "3"])
        let n = d.nodes[0]
        #expect(n.ints("nodes_treeids") == [0, 0, 0, 0, 0])
        #expect(n.ints("nodes_nodeids") == [0, 1, 2, 3, 4])
        #expect(n.ints("nodes_featureids") == [1, 0, 0, 0, 0])
        #expect(n.strings("nodes_modes") == ["BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"])
        #expect(n.ints("nodes_truenodeids") == [1, 0, 3, 0, 0])
        #expect(n.ints("nodes_falsenodeids") == [2, 0, 4, 0, 0])
        #expect(n.ints("nodes_missing_value_tracks_true") == [1, 0, 0, 0, 0])
        #expect(n.floats("nodes_values") == [Float(0.1).nextDown, 0, .infinity, 0, 0])
        #expect(n.ints("class_treeids") == [Int64](repeating: 0, count: 9))
        #expect(n.ints("class_nodeids") == [1, 1, 1, 3, 3, 3, 4, 4, 4])
        #expect(n.ints("class_ids") == [0, 1, 2, 0, 1, 2, 0, 1, 2])
        #expect(n.floats("class_weights") == [1, 0, 0, 0, 0.5, 0.5, 0.25, 0.25, 0.5])
        #expect(n.strings("classlabels_strings") == ["a", "b", "c"])
        #expect(n.text("post_transform") == "NONE")
        #expect(n.attributes["base_values"] == nil)
        #expect(d.isTopologicallyWired)
    }

    @Test func forestWeightsAreScaledByTheTreeCount() throws {
        var m = Self.smallTree(.randomForest)
        guard case var .trees(e) = m.parameters else { return }
        // the same tree twice
        e.treeStart = [0, 5]
        e.treeScore = [0, 0]
        e.feature += e.feature
        e.threshold += e.threshold
        e.missingLeft += e.missingLeft
        e.left += [6, 3, 8, 4, 5]
        e.right += [7, -1, 9, -1, -1]
        e.values += e.values
        m.parameters = .trees(e)
        let n = try DecodedOnnx(try OnnxExport.export(m)).nodes[0]
        #expect(n.ints("nodes_treeids") == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        #expect(n.ints("nodes_truenodeids") == [1, 0, 3, 0, 0, 1, 0, 3, 0, 0])    // ids within the tree
        #expect(n.ints("class_nodeids").count == 18)
        #expect(n.floats("class_weights").prefix(3) == [0.5, 0, 0])
        #expect(n.floats("class_weights")[9...] == [1, 0, 0, 0, 0.5, 0.5, 0.25, 0.25, 0.5].map { Float($0 / 2) }[...])
    }

    @Test func boostingGraphs() throws {
        // binary: TreeEnsembleRegressor for the log-odds s, then logits (−s, s)
        let e = TreeEnsemble(combine: .sum, outputs: 1, scores: 1, base: [-0.4], treeStart: [0], treeScore: [0],
                             feature: [0, -1, -1], threshold: [2.5, 0, 0], missingLeft: [false, false, false],
                             left: [1, 0, 1], right: [2, -1, -1], values: [-0.3, 0.7], importance: [1])
        let binary = Model(algorithm: .gradientBoosting, featureCount: 1, trainingRows: 10, labelKind: .integer,
                           classes: ["0", "5"].map { Array($0.utf8) }, parameters: .trees(e))
        let d = try DecodedOnnx(try OnnxExport.export(binary))
        #expect(d.ops == ["TreeEnsembleRegressor", "Neg", "Concat", "Sigmoid", "ArgMax", "LabelEncoder"])
        #expect(d.int("TreeEnsembleRegressor", "n_targets") == 1)
        #expect(d.text("TreeEnsembleRegressor", "aggregate_function") == "SUM")
        #expect(d.floats("TreeEnsembleRegressor", "base_values") == [-0.4])
        #expect(d.floats("TreeEnsembleRegressor", "target_weights") == [-0.3, 0.7])
        #expect(d.nodes[2].inputs == ["pgscore.trees.negated", "pgscore.trees.score"])
        #expect(d.nodes[3].outputs == ["probabilities"])
        #expect(d.nodes[4].inputs == ["pgscore.trees.logits"])
        #expect(d.ints("LabelEncoder", "values_int64s") == [0, 5])
        #expect(d.outputs[0].1 == 7)
        #expect(d.isTopologicallyWired)

        // three classes: one tree per class and round, SOFTMAX over the class scores
        let k3 = TreeEnsemble(combine: .sum, outputs: 1, scores: 3, base: [0.1, 0.2, 0.3], treeStart: [0, 1, 2],
                              treeScore: [0, 1, 2], feature: [-1, -1, -1], threshold: [0, 0, 0],
                              missingLeft: [false, false, false], left: [0, 1, 2], right: [-1, -1, -1],
                              values: [1, 2, 3], importance: [0])
        let multi = Model(algorithm: .gradientBoosting, featureCount: 1, trainingRows: 10, labelKind: .integer,
                          classes: ["-3", "7", "42"].map { Array($0.utf8) }, parameters: .trees(k3))
        let n = try DecodedOnnx(try OnnxExport.export(multi)).nodes[0]
        #expect(n.op == "TreeEnsembleClassifier")
        #expect(n.ints("class_treeids") == [0, 1, 2])
        #expect(n.ints("class_ids") == [0, 1, 2])
        #expect(n.floats("base_values") == [0.1, 0.2, 0.3])
        #expect(n.text("post_transform") == "SOFTMAX")
        #expect(n.ints("classlabels_int64s") == [-3, 7, 42])
    }

    @Test func binaryForestAndRegressionGraphs() throws {
        let e = TreeEnsemble(combine: .average, outputs: 2, scores: 2, base: [0, 0], treeStart: [0], treeScore: [0],
                             feature: [0, -1, -1], threshold: [1, 0, 0], missingLeft: [true, false, false],
                             left: [1, 0, 1], right: [2, -1, -1], values: [0.75, 0.25, 0.1, 0.9], importance: [1])
        let forest = Model(algorithm: .randomForest, featureCount: 1, trainingRows: 10, labelKind: .boolean,
                           classes: ["false", "true"].map { Array($0.utf8) }, parameters: .trees(e))
        let d = try DecodedOnnx(try OnnxExport.export(forest))
        #expect(d.ops == ["TreeEnsembleRegressor", "ArgMax", "LabelEncoder"])
        #expect(d.nodes[0].outputs == ["probabilities"])
        #expect(d.int("TreeEnsembleRegressor", "n_targets") == 2)
        #expect(d.text("TreeEnsembleRegressor", "aggregate_function") == "AVERAGE")
        #expect(d.ints("TreeEnsembleRegressor", "target_ids") == [0, 1, 0, 1])
        #expect(d.floats("TreeEnsembleRegressor", "target_weights") == [0.75, 0.25, 0.1, 0.9])
        #expect(d.nodes[0].attributes["base_values"] == nil)
        #expect(d.strings("LabelEncoder", "values_strings") == ["false", "true"])

        let r = TreeEnsemble(combine: .average, outputs: 1, scores: 1, base: [0], treeStart: [0], treeScore: [0],
                             feature: [0, -1, -1], threshold: [1, 0, 0], missingLeft: [false, false, false],
                             left: [1, 0, 1], right: [2, -1, -1], values: [140, 160], importance: [1])
        let reg = Model(algorithm: .decisionTree, featureCount: 1, trainingRows: 10, labelKind: .float8, classes: [],
                        parameters: .trees(r))
        let g = try DecodedOnnx(try OnnxExport.export(reg))
        #expect(g.ops == ["TreeEnsembleRegressor"])
        #expect(g.outputs.map(\.0) == ["variable"] && g.outputs[0].2 == ["N", "1"])
        #expect(g.text("TreeEnsembleRegressor", "aggregate_function") == "AVERAGE")
        #expect(g.floats("TreeEnsembleRegressor", "target_weights") == [140, 160])
    }

    @Test func keepMissingColumnsAreNotImputed() throws {
        func spec(keepAge: Bool, keepChol: Bool, scale: Double) -> String {
            #"""
            {"preprocess": {"columns": [
              {"name": "age", "type": "float8", "kind": "numeric", "impute": 40, "center": 0, "scale": \#(scale), "keep_missing": \#(keepAge)},
              {"name": "color", "type": "text", "kind": "categorical", "categories": ["red", "green"]},
              {"name": "chol", "type": "float8", "kind": "numeric", "impute": 240, "center": 0, "scale": 1, "keep_missing": \#(keepChol)}
            ]}}
            """#
        }
        var m = Self.smallTree()
        guard case var .trees(e) = m.parameters else { return }
        m.featureCount = 4
        e.importance = [0.5, 0.5, 0, 0]
        m.parameters = .trees(e)
        m.info = spec(keepAge: true, keepChol: true, scale: 1)
        var d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.ops == ["OneHotEncoder", "Reshape", "Concat", "TreeEnsembleClassifier"])
        #expect(d.nodes[2].inputs == ["numeric", "pgscore.encoded.0"])        // numbers first, NaN kept
        #expect(d.isTopologicallyWired)
        // only some columns keep missing values: the others are imputed, NaN stays NaN
        m.info = spec(keepAge: false, keepChol: true, scale: 2)
        d = try DecodedOnnx(try OnnxExport.export(m))
        #expect(d.ops == ["Imputer", "Scaler", "OneHotEncoder", "Reshape", "Concat", "TreeEnsembleClassifier"])
        let imputed = d.floats("Imputer", "imputed_value_floats")
        #expect(imputed.count == 2 && imputed[0] == 40 && imputed[1].isNaN)
        #expect(d.nodes[4].inputs == ["pgscore.scaled", "pgscore.encoded.0"])
    }

    // MARK: the graphs compute what Scorer computes

    static func check(_ m: Model, rows: [[Double]]) throws -> Double {
        let d = try DecodedOnnx(try OnnxExport.export(m))
        let node = d.nodes.first { $0.op.hasPrefix("TreeEnsemble") }!
        let trees = OnnxTrees(node)
        guard case let .trees(e) = m.parameters else { return .infinity }
        let k = m.classes.count
        var worst = 0.0
        for x in rows {
            let xf = x.map { Float($0) }
            if k == 0 {
                var s = trees.sums(xf, ids: 1)[0]
                if node.text("aggregate_function") == "AVERAGE" { s /= Float(trees.trees) }
                s += node.floats("base_values").first ?? 0
                let want = try TreeTests.value(m, x)
                worst = max(worst, abs(Double(s) - want) / max(1, abs(want)))
                continue
            }
            var p: [Double]
            var label: Int
            if node.op == "TreeEnsembleClassifier" {
                let s = zip(trees.sums(xf, ids: k), node.floats("base_values") + [Float](repeating: 0, count: k))
                    .map { Double($0 + $1) }
                label = s.indices.max { s[$0] < s[$1] || (s[$0] == s[$1] && $0 > $1) }!
                if node.text("post_transform") == "SOFTMAX" {
                    let z = s.map { _exp($0 - s.max()!) }
                    p = z.map { $0 / z.reduce(0, +) }
                } else {
                    p = s
                }
            } else if e.combine == .average {
                p = trees.sums(xf, ids: 2).map { Double($0) / Double(trees.trees) }
                label = p[1] > p[0] ? 1 : 0
            } else {
                let s = Double(trees.sums(xf, ids: 1)[0] + node.floats("base_values")[0])
                p = [sigmoid(-s), sigmoid(s)]
                label = s > 0 ? 1 : 0
            }
            let want = try TreeTests.proba(m, x)
            #expect(label == (try TreeTests.cls(m, x)), "\(m.algorithm.name): label of \(x)")
            worst = max(worst, zip(p, want).map { abs($0 - $1) }.max()!)
        }
        return worst
    }

    @Test(arguments: [Algorithm.decisionTree, .randomForest, .gradientBoosting])
    func graphsScoreLikeScorer(_ a: Algorithm) throws {
        let options = a == .decisionTree ? "" : #"{"n_trees": 15}"#
        let binary = TreeTests.binary(n: 300)
        let m2 = try TreeTests.classifier(a, binary, options)
        #expect(try Self.check(m2, rows: binary.x) < 1e-5)
        // missing values in every feature, also where training had none
        var holes = binary.x.prefix(50).map { $0 }
        for i in holes.indices { holes[i][i % 4] = .nan }
        #expect(try Self.check(m2, rows: holes) < 1e-5)
        let three = TreeTests.threeClasses(n: 240)
        #expect(try Self.check(try TreeTests.classifier(a, three, options), rows: three.x) < 1e-5)
        let reg = TreeTests.regression(n: 240)
        #expect(try Self.check(try TreeTests.regressor(a, reg, options), rows: reg.x) < 1e-5)
    }
}
