#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A model as a standard ONNX file (ModelProto, IR version 8, opsets "" 17 and
/// "ai.onnx.ml" 3), written by hand in protobuf wire format (ProtobufWriter).
///
/// Graph inputs:
///  * without a "preprocess" spec: `features`, float [N, featureCount];
///  * with one (Preprocessor): `numeric`, float [N, numeric columns] in spec order,
///    NaN where a value is missing, when the spec has numeric columns; and one string
///    input [N, 1] per categorical column, named after the column, holding the
///    category as text. They go through Imputer → Scaler and OneHotEncoder → Reshape,
///    then Concat in the order Preprocessor.encode uses (numeric first, then each
///    categorical column in spec order). Columns marked keep_missing (tree models)
///    are not imputed: NaN reaches the trees, which send it the learned way; a Scaler
///    that would be the identity (center 0, scale 1, as for trees) is left out.
///
/// Graph outputs:
///  * linear regression: `variable`, float [N, 1] (LinearRegressor);
///  * logistic regression: `label` [N] and `probabilities` float [N, K]
///    (LinearClassifier, LOGISTIC for two classes, SOFTMAX for more);
///  * naive Bayes: the same two outputs, computed with standard operators
///    (no ONNX operator exists): jll = c − ½ Σⱼ (x − μ)² / σ², Softmax, ArgMax,
///    LabelEncoder;
///  * decision tree, random forest, gradient boosting: TreeEnsembleRegressor /
///    TreeEnsembleClassifier (see OnnxExport+Trees.swift for the mapping, the float32
///    thresholds and the two-class form), `variable` or `label` and `probabilities`.
/// `label` is string for text and boolean labels ('true', 'setosa': the text pgscore
/// returns), int64 for integer labels.
///
/// ONNX-ML operators compute in float32, so the file computes in float32 throughout:
/// probabilities agree with ml.predict_proba to about 1e-6 (within 1e-5), regression
/// values to about 1e-6 relative; a label can differ only where two classes score
/// within float32 rounding of each other.
///
/// Differences from SQL scoring that the file cannot express: an unseen category
/// encodes as all zeros (like "unknown": "ignore"; ONNX has no error to raise), and
/// Infinity in a numeric input is not refused.
public enum OnnxExport {
    public static let irVersion: Int64 = 8
    public static let opsetVersion: Int64 = 17
    public static let mlDomain = "ai.onnx.ml"
    public static let mlOpsetVersion: Int64 = 3
    public static let producerName = "pgscore"

    /// The ONNX file (serialized ModelProto) of `model`.
    public static func export(_ model: Model) throws(ScoreError) -> [UInt8] {
        let bytes = try graph(for: model).serialized
        // protobuf messages (and so ONNX files without external data) end at 2 GiB
        guard bytes.count < Int(Int32.max) else {
            throw .limit("cannot export to ONNX: the file would take \(bytes.count) bytes, more than protobuf's 2 GiB",
                         hint: "Train a smaller model (fewer trees or a lower max_depth).")
        }
        return bytes
    }

    /// The graph of `model`, before serialization (tests look at it).
    public static func graph(for model: Model) throws(ScoreError) -> OnnxGraph {
        var g = OnnxGraph(name: "pgscore_\(model.algorithm.name)")
        let features: String
        if let pre = try model.preprocessor() {
            features = try g.addPreprocessing(pre)
        } else {
            features = "features"
            g.inputs.append(.init(name: features, type: .float, shape: [.symbol("N"), .value(Int64(model.featureCount))],
                                  doc: "the model's \(model.featureCount) features, in training order"))
        }
        switch model.parameters {
        case let .linear(intercept, coefficients):
            g.nodes.append(.init(op: "LinearRegressor", domain: mlDomain, inputs: [features], outputs: ["variable"], attributes: [
                ("coefficients", .floats(try floats(coefficients, "coefficient"))),
                ("intercepts", .floats(try floats([intercept], "intercept"))),
                ("targets", .int(1)),
            ]))
            g.outputs.append(.init(name: "variable", type: .float, shape: [.symbol("N"), .value(1)], doc: "the prediction"))
        case let .logistic(intercepts, coefficients):
            var rows = coefficients
            var offsets = intercepts
            if rows.count == 1 {
                // Two classes, one score s: rows (−s, s) with LOGISTIC give (1 − p, p), and
                // ArgMax picks class 1 exactly when s > 0 (ties go to the first), as Scorer.
                rows = [rows[0].map { -$0 }, rows[0]]
                offsets = [-offsets[0], offsets[0]]
            }
            let labels = try classLabels(model)
            g.nodes.append(.init(op: "LinearClassifier", domain: mlDomain, inputs: [features],
                                 outputs: ["label", "probabilities"], attributes: [
                ("coefficients", .floats(try floats(rows.flatMap { $0 }, "coefficient"))),
                ("intercepts", .floats(try floats(offsets, "intercept"))),
                labels.attribute,
                ("multi_class", .int(0)),
                ("post_transform", .string(intercepts.count == 1 ? "LOGISTIC" : "SOFTMAX")),
            ]))
            g.addClassifierOutputs(labels, classes: model.classes.count)
        case let .trees(ensemble):
            try addTrees(ensemble, model: model, features: features, to: &g)
        case let .naiveBayes(prior, means, variances):
            let k = model.classes.count
            let d = model.featureCount
            var offsets: [Double] = []
            var halfPrecision: [Double] = []
            for c in 0..<k {
                var term = log(prior[c])
                for v in variances[c] {
                    term -= 0.5 * log(2 * Double.pi * v)
                    halfPrecision.append(-0.5 / v)
                }
                offsets.append(term)
            }
            let dims: [Int64] = [Int64(k), Int64(d)]
            g.constant("pgscore.nb.axis1", int64s: [1], dims: [1])
            g.constant("pgscore.nb.axis2", int64s: [2], dims: [1])
            g.constant("pgscore.nb.means", floats: try floats(means.flatMap { $0 }, "class mean"), dims: dims)
            g.constant("pgscore.nb.half_precision", floats: try floats(halfPrecision, "variance reciprocal"), dims: dims)
            g.constant("pgscore.nb.offsets", floats: try floats(offsets, "class log-likelihood offset"), dims: [Int64(k)])
            // x [N, d] → [N, 1, d] − μ [K, d] → [N, K, d]: the centered form keeps
            // float32 rounding small even for features far from zero.
            g.node("Unsqueeze", [features, "pgscore.nb.axis1"], ["pgscore.nb.x"])
            g.node("Sub", ["pgscore.nb.x", "pgscore.nb.means"], ["pgscore.nb.diff"])
            g.node("Mul", ["pgscore.nb.diff", "pgscore.nb.diff"], ["pgscore.nb.squared"])
            g.node("Mul", ["pgscore.nb.squared", "pgscore.nb.half_precision"], ["pgscore.nb.terms"])
            g.node("ReduceSum", ["pgscore.nb.terms", "pgscore.nb.axis2"], ["pgscore.nb.sum"], [("keepdims", .int(0))])
            g.node("Add", ["pgscore.nb.sum", "pgscore.nb.offsets"], ["pgscore.nb.jll"])
            g.node("Softmax", ["pgscore.nb.jll"], ["probabilities"], [("axis", .int(1))])
            g.node("ArgMax", ["pgscore.nb.jll"], ["pgscore.nb.class"], [("axis", .int(1)), ("keepdims", .int(0))])
            let labels = try classLabels(model)
            g.addLabelEncoder(from: "pgscore.nb.class", labels: labels, classes: k)
            g.addClassifierOutputs(labels, classes: k)
        }
        g.metadata = [("pgscore.algorithm", model.algorithm.name), ("pgscore.label_type", model.labelKind.name),
                      ("pgscore.training_rows", String(model.trainingRows))]
        try g.checkNames()
        return g
    }

    // MARK: helpers

    enum Labels {
        case strings([String])
        case ints([Int64])

        var attribute: (String, OnnxGraph.Attribute) {
            switch self {
            case let .strings(s): return ("classlabels_strings", .strings(s))
            case let .ints(v): return ("classlabels_ints", .ints(v))
            }
        }
    }

    static func classLabels(_ model: Model) throws(ScoreError) -> Labels {
        let texts = model.classes.map { String(decoding: $0, as: UTF8.self) }
        guard model.labelKind == .integer else { return .strings(texts) }
        var ints: [Int64] = []
        for t in texts {
            guard let v = Int64(t) else { throw .badModel("integer class label \"\(t)\" is not an integer") }
            ints.append(v)
        }
        return .ints(ints)
    }

    /// Parameters as float32, refusing those float32 cannot hold.
    static func floats(_ values: [Double], _ what: String) throws(ScoreError) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(values.count)
        for v in values {
            let f = Float(v)
            guard f.isFinite else {
                throw .limit("cannot export to ONNX: \(what) \(sqlSpelling(v)) does not fit a 32-bit float",
                             hint: "ONNX-ML operators compute in float32. Rescale the features and train again.")
            }
            out.append(f)
        }
        return out
    }
}

/// An ONNX graph under construction, and its serialization as a ModelProto.
public struct OnnxGraph: Sendable {
    /// TensorProto.DataType values.
    public enum ElementType: Int64, Sendable {
        case float = 1
        case int64 = 7
        case string = 8
    }

    public enum Dimension: Sendable, Equatable {
        case value(Int64)
        case symbol(String)
    }

    public struct Value: Sendable {
        public var name: String
        public var type: ElementType
        public var shape: [Dimension]
        public var doc: String = ""
    }

    public enum Attribute: Sendable {
        case int(Int64)
        case float(Float)
        case string(String)
        case ints([Int64])
        case floats([Float])
        case strings([String])
    }

    public struct Node: Sendable {
        public var op: String
        public var domain: String = ""
        public var inputs: [String]
        public var outputs: [String]
        public var attributes: [(String, Attribute)] = []
    }

    public struct Tensor: Sendable {
        public var name: String
        public var type: ElementType
        public var dims: [Int64]
        /// Little-endian fixed-width elements (TensorProto.raw_data).
        public var raw: [UInt8]
    }

    public var name: String
    public var inputs: [Value] = []
    public var outputs: [Value] = []
    public var nodes: [Node] = []
    public var initializers: [Tensor] = []
    public var metadata: [(String, String)] = []

    public init(name: String) { self.name = name }

    // MARK: building

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [(String, Attribute)] = []) {
        nodes.append(Node(op: op, inputs: inputs, outputs: outputs, attributes: attributes))
    }

    mutating func constant(_ name: String, floats: [Float], dims: [Int64]) {
        var raw: [UInt8] = []
        raw.reserveCapacity(floats.count * 4)
        for f in floats { for i in 0..<4 { raw.append(UInt8(truncatingIfNeeded: f.bitPattern >> (8 * i))) } }
        initializers.append(Tensor(name: name, type: .float, dims: dims, raw: raw))
    }

    mutating func constant(_ name: String, int64s: [Int64], dims: [Int64]) {
        var raw: [UInt8] = []
        raw.reserveCapacity(int64s.count * 8)
        for v in int64s { for i in 0..<8 { raw.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * i))) } }
        initializers.append(Tensor(name: name, type: .int64, dims: dims, raw: raw))
    }

    /// Inputs and nodes that turn raw columns into the encoded feature vector;
    /// returns the name of that float [N, featureCount] value.
    mutating func addPreprocessing(_ pre: Preprocessor) throws(ScoreError) -> String {
        var parts: [String] = []
        if !pre.numericColumns.isEmpty {
            let cols = pre.numericColumns.map { pre.columns[$0] }
            inputs.append(Value(name: "numeric", type: .float, shape: [.symbol("N"), .value(Int64(cols.count))],
                                doc: "numeric columns in this order: \(cols.map(\.name).joined(separator: ", ")); NaN = missing"))
            var current = "numeric"
            // Columns marked keep_missing (tree models) keep NaN: the trees send it the
            // learned way. Imputing NaN with NaN leaves it as it is; no Imputer at all
            // when every column keeps its missing values.
            if !cols.allSatisfy(\.keepMissing) {
                var imputed: [Float] = []
                for c in cols {
                    imputed.append(c.keepMissing ? .nan : try OnnxExport.floats([c.impute], "imputed value")[0])
                }
                nodes.append(Node(op: "Imputer", domain: OnnxExport.mlDomain, inputs: [current], outputs: ["pgscore.imputed"], attributes: [
                    ("imputed_value_floats", .floats(imputed)),
                    ("replaced_value_float", .float(.nan)),
                ]))
                current = "pgscore.imputed"
            }
            // No Scaler where it would be the identity (center 0, scale 1: tree models).
            if !cols.allSatisfy({ $0.center == 0 && $0.scale == 1 }) {
                nodes.append(Node(op: "Scaler", domain: OnnxExport.mlDomain, inputs: [current], outputs: ["pgscore.scaled"], attributes: [
                    ("offset", .floats(try OnnxExport.floats(cols.map(\.center), "center"))),
                    ("scale", .floats(try OnnxExport.floats(cols.map { 1 / $0.scale }, "scale reciprocal"))),
                ]))
                current = "pgscore.scaled"
            }
            parts.append(current)
        }
        for (n, i) in pre.categoricalColumns.enumerated() {
            let c = pre.columns[i]
            // a column without categories encodes to nothing: it is not an input either
            guard !c.categories.isEmpty else { continue }
            let k = Int64(c.categories.count)
            inputs.append(Value(name: c.name, type: .string, shape: [.symbol("N"), .value(1)],
                                doc: "categorical column \"\(c.name)\" as text; an unknown category encodes as all zeros"))
            nodes.append(Node(op: "OneHotEncoder", domain: OnnxExport.mlDomain, inputs: [c.name],
                              outputs: ["pgscore.onehot.\(n)"], attributes: [
                ("cats_strings", .strings(c.categories)),
                ("zeros", .int(1)),
            ]))
            // [N, 1, k] → [N, k]: 0 copies N (also when N is 0)
            constant("pgscore.shape.\(n)", int64s: [0, k], dims: [2])
            node("Reshape", ["pgscore.onehot.\(n)", "pgscore.shape.\(n)"], ["pgscore.encoded.\(n)"])
            parts.append("pgscore.encoded.\(n)")
        }
        node("Concat", parts, ["pgscore.features"], [("axis", .int(1))])
        return "pgscore.features"
    }

    /// `label` from a class index (int64 [N]) through LabelEncoder.
    mutating func addLabelEncoder(from index: String, labels: OnnxExport.Labels, classes k: Int) {
        var encoder: [(String, Attribute)] = [("keys_int64s", .ints((0..<k).map { Int64($0) }))]
        switch labels {
        case let .strings(s): encoder.append(("values_strings", .strings(s)))
        case let .ints(v): encoder.append(("values_int64s", .ints(v)))
        }
        nodes.append(Node(op: "LabelEncoder", domain: OnnxExport.mlDomain, inputs: [index], outputs: ["label"],
                          attributes: encoder))
    }

    mutating func addClassifierOutputs(_ labels: OnnxExport.Labels, classes k: Int) {
        let labelType: ElementType
        switch labels {
        case .strings: labelType = .string
        case .ints: labelType = .int64
        }
        outputs.append(Value(name: "label", type: labelType, shape: [.symbol("N")], doc: "the predicted class"))
        outputs.append(Value(name: "probabilities", type: .float, shape: [.symbol("N"), .value(Int64(k))],
                             doc: "class probabilities in class order"))
    }

    /// Every value has one producer: a column named like another value cannot be exported.
    func checkNames() throws(ScoreError) {
        var seen: [String] = []
        for name in inputs.map(\.name) + initializers.map(\.name) + nodes.flatMap(\.outputs) {
            guard !seen.contains(name) else {
                throw .badValue("cannot export to ONNX: the name \"\(name)\" would be given to two values of the graph",
                                hint: "Rename the column in the model's \"preprocess\" spec (ml.with_info), or train with other column names.")
            }
            seen.append(name)
        }
    }

    // MARK: serialization (field numbers of onnx.proto)

    public var serialized: [UInt8] {
        var m = ProtobufWriter()
        m.int(1, OnnxExport.irVersion)                       // ModelProto.ir_version
        m.string(2, OnnxExport.producerName)                 // producer_name
        m.message(7) { g in writeGraph(&g) }                 // graph
        m.message(8) { o in o.int(2, OnnxExport.opsetVersion) }   // opset_import: domain "" omitted
        m.message(8) { o in                                  // opset_import ai.onnx.ml
            o.string(1, OnnxExport.mlDomain)
            o.int(2, OnnxExport.mlOpsetVersion)
        }
        for (k, v) in metadata {                             // metadata_props
            m.message(14) { e in
                e.string(1, k)
                e.string(2, v)
            }
        }
        return m.bytes
    }

    func writeGraph(_ g: inout ProtobufWriter) {
        for (i, n) in nodes.enumerated() {                   // GraphProto.node
            g.message(1) { p in
                for x in n.inputs { p.string(1, x) }
                for y in n.outputs { p.string(2, y) }
                p.string(3, "\(n.op)_\(i)")                  // name
                p.string(4, n.op)                            // op_type
                for (name, a) in n.attributes {              // attribute
                    p.message(5) { q in Self.writeAttribute(&q, name, a) }
                }
                if !n.domain.isEmpty { p.string(7, n.domain) }
            }
        }
        g.string(2, name)
        for t in initializers {                              // initializer
            g.message(5) { p in
                p.packedInts(1, t.dims)                      // TensorProto.dims
                p.int(2, t.type.rawValue)                    // data_type
                p.string(8, t.name)
                p.bytes(9, t.raw)                            // raw_data
            }
        }
        for v in inputs { g.message(11) { p in Self.writeValue(&p, v) } }
        for v in outputs { g.message(12) { p in Self.writeValue(&p, v) } }
    }

    static func writeValue(_ p: inout ProtobufWriter, _ v: Value) {
        p.string(1, v.name)                                  // ValueInfoProto.name
        p.message(2) { t in                                  // type: TypeProto
            t.message(1) { tensor in                         // tensor_type
                tensor.int(1, v.type.rawValue)               // elem_type
                tensor.message(2) { shape in                  // shape: TensorShapeProto
                    for d in v.shape {
                        shape.message(1) { dim in            // dim
                            switch d {
                            case let .value(n): dim.int(1, n)        // dim_value
                            case let .symbol(s): dim.string(2, s)    // dim_param
                            }
                        }
                    }
                }
            }
        }
        if !v.doc.isEmpty { p.string(3, v.doc) }             // doc_string
    }

    static func writeAttribute(_ q: inout ProtobufWriter, _ name: String, _ a: Attribute) {
        q.string(1, name)                                    // AttributeProto.name
        switch a {                                           // value, then type (field 20)
        case let .float(f): q.float(2, f); q.int(20, 1)
        case let .int(i): q.int(3, i); q.int(20, 2)
        case let .string(s): q.string(4, s); q.int(20, 3)
        case let .floats(v): q.packedFloats(7, v); q.int(20, 6)
        case let .ints(v): q.packedInts(8, v); q.int(20, 7)
        case let .strings(v): for s in v { q.string(9, s) }; q.int(20, 8)
        }
    }
}
