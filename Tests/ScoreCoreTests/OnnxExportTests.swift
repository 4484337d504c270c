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

/// What the tests look at in a decoded ModelProto.
struct DecodedOnnx {
    struct Node { var op: String; var domain: String; var inputs: [String]; var outputs: [String]; var attributes: [String: ProtoField] }
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
