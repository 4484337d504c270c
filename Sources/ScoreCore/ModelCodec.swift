/// The stored form of a model (the bytes of an `ml.model` value), little-endian:
///
///     offset 0  "PGSM"            magic
///            4  u16 format        version (1)
///            6  u16 0             reserved
///            8  u32 body length
///           12  u32 0             reserved
///           16  u64 CRC-64 of the body
///           24  body: sections    u16 tag, u16 flags (bit 0: required), u32 length, bytes
///
/// Sections of format 1, each exactly once and in this order: 1 core (flags 1),
/// 2 parameters (flags 1), 3 options JSON (flags 0), 4 info JSON (flags 0). The
/// parameter layout depends on the algorithm (tree models, algorithms 4-6:
/// TreeEnsemble.encode); a reader refuses algorithms it does not know.
///
/// A model value is hostile input (anyone can recompute a CRC): the decoder accepts
/// only the canonical encoding (no trailing bytes, no repeated, unknown or reordered
/// section, reserved bytes zero) and proves every invariant the scorers, describe and
/// the ONNX export rely on, before allocating anything sized by the value. A required
/// section this reader does not know means a newer format; later versions add facts
/// under a new format version.
public enum ModelCodec {
    public static let formatVersion: UInt16 = 1
    public static let headerSize = 24
    static let magic: [UInt8] = Array("PGSM".utf8)
    /// Upper bound on decoded sizes, so a damaged length can never make us allocate wildly.
    static let maxCount = 1 << 26
    /// Most features and classes a model may have: the limits of training and of the
    /// C glue's buffers (checked against extension/include/pgscore_abi.h at load time).
    public static let maxFeatures = 1000
    public static let maxClasses = 1000

    enum Tag: UInt16 {
        case core = 1, parameters = 2, options = 3, info = 4
    }

    // MARK: encoding

    public static func encode(_ model: Model) -> [UInt8] {
        var body = ByteWriter()
        var core = ByteWriter()
        core.u16(model.algorithm.rawValue)
        core.u8(model.labelKind.rawValue)
        core.u8(0)
        core.u32(UInt32(model.featureCount))
        core.u64(UInt64(model.trainingRows))
        core.u32(UInt32(model.classes.count))
        for c in model.classes { core.bytes(c) }
        body.section(.core, required: true, core.data)

        var params = ByteWriter()
        switch model.parameters {
        case let .linear(intercept, coefficients):
            params.f64(intercept)
            params.f64s(coefficients)
        case let .logistic(intercepts, coefficients):
            params.u32(UInt32(intercepts.count))
            params.f64s(intercepts)
            for row in coefficients { params.f64s(row) }
        case let .naiveBayes(prior, means, variances):
            params.f64s(prior)
            for row in means { params.f64s(row) }
            for row in variances { params.f64s(row) }
        case let .trees(ensemble):
            ensemble.encode(into: &params)
        }
        body.section(.parameters, required: true, params.data)
        body.section(.options, required: false, Array(model.options.utf8))
        body.section(.info, required: false, Array(model.info.utf8))

        var out = ByteWriter()
        out.data = magic
        out.u16(formatVersion)
        out.u16(0)
        out.u32(UInt32(body.data.count))
        out.u32(0)
        out.u64(CRC64.checksum(body.data))
        out.data += body.data
        return out.data
    }

    // MARK: decoding

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ScoreError) -> Model {
        guard bytes.count >= headerSize else {
            throw .badModel("model value is \(bytes.count) bytes, shorter than the \(headerSize)-byte header: truncated or not a pgscore model")
        }
        guard bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2], bytes[3] == magic[3] else {
            throw .badModel("value is not a pgscore model (bad magic number)")
        }
        var header = ByteReader(bytes, from: 4, to: headerSize)
        let version = try header.u16()
        guard version <= formatVersion else {
            throw .newerFormat("model was written in format version \(version); this pgscore reads up to version \(formatVersion)")
        }
        guard version >= 1 else { throw .badModel("model format version 0 is not valid") }
        let reserved1 = try header.u16()
        let length = Int(try header.u32())
        let reserved2 = try header.u32()
        let crc = try header.u64()
        guard reserved1 == 0, reserved2 == 0 else { throw .badModel("model header has non-zero reserved bytes: damaged") }
        guard length == bytes.count - headerSize else {
            throw .badModel("model body should be \(length) bytes, found \(bytes.count - headerSize): truncated or damaged")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[headerSize...])
        guard CRC64.checksum(body) == crc else { throw .badModel("model checksum mismatch: the value is damaged") }

        var sections = ByteReader(bytes, from: headerSize, to: bytes.count)
        var contents: [ByteReader] = []
        let layout: [(Tag, UInt16)] = [(.core, 1), (.parameters, 1), (.options, 0), (.info, 0)]
        while !sections.atEnd {
            let tag = try sections.u16()
            let flags = try sections.u16()
            let len = Int(try sections.u32())
            let content = try sections.sub(len)
            guard contents.count < layout.count, tag == layout[contents.count].0.rawValue else {
                if Tag(rawValue: tag) == nil, flags & 1 != 0 {
                    throw .newerFormat("model has a required section (tag \(tag)) this pgscore does not know")
                }
                throw .badModel("model has an unexpected section (tag \(tag)) after \(contents.count) sections: damaged or not canonical")
            }
            guard flags == layout[contents.count].1 else { throw .badModel("model section \(tag) has flags \(flags): damaged") }
            contents.append(content)
        }
        guard contents.count == layout.count else { throw .badModel("model lacks some of its four sections: truncated or damaged") }
        var c = contents[0], p = contents[1]
        let options = try json(contents[2].rest, "options")
        let info = try json(contents[3].rest, "info")
        guard let algorithm = Algorithm(rawValue: try c.u16()) else {
            throw .newerFormat("model uses an algorithm this pgscore does not know")
        }
        guard let labelKind = LabelKind(rawValue: try c.u8()) else { throw .badModel("unknown label type") }
        guard try c.u8() == 0 else { throw .badModel("model core has a non-zero reserved byte: damaged") }
        let d = Int(try c.u32())
        let rawRows = try c.u64()
        let k = Int(try c.u32())
        guard d >= 1, rawRows <= UInt64(Int64.max) else { throw .badModel("implausible model dimensions") }
        guard d <= maxFeatures else {
            throw .limit("the model has \(d) features, at most \(maxFeatures) are supported")
        }
        guard k <= maxClasses else {
            throw .limit("the model has \(k) classes, at most \(maxClasses) are supported")
        }
        let rows = Int(rawRows)
        var classes: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        for i in 0..<k {
            let label = try c.bytes()
            try checkLabel(label, kind: labelKind, index: i)
            guard seen.insert(label).inserted else { throw .badModel("class \(i + 1) repeats an earlier class label") }
            classes.append(label)
        }
        guard c.atEnd else { throw .badModel("model core section has trailing bytes: damaged") }

        let parameters: Parameters
        switch algorithm {
        case .linearRegression:
            guard labelKind == .float8, k == 0 else { throw .badModel("regression model with classes") }
            parameters = .linear(intercept: try p.f64(), coefficients: try p.f64s(d))
        case .logisticRegression:
            let r = Int(try p.u32())
            guard k >= 2, r == (k == 2 ? 1 : k) else { throw .badModel("logistic model has \(r) score rows for \(k) classes") }
            let intercepts = try p.f64s(r)
            var coefficients: [[Double]] = []
            for _ in 0..<r { coefficients.append(try p.f64s(d)) }
            parameters = .logistic(intercepts: intercepts, coefficients: coefficients)
        case .naiveBayes:
            guard k >= 2 else { throw .badModel("naive Bayes model with fewer than two classes") }
            let prior = try p.f64s(k)
            var means: [[Double]] = []
            var variances: [[Double]] = []
            for _ in 0..<k { means.append(try p.f64s(d)) }
            for _ in 0..<k { variances.append(try p.f64s(d)) }
            guard prior.allSatisfy({ $0 > 0 && $0 <= 1 }), variances.allSatisfy({ $0.allSatisfy { $0 > 0 && (1 / $0).isFinite } }) else {
                throw .badModel("naive Bayes model has a non-positive prior or variance")
            }
            parameters = .naiveBayes(prior: prior, means: means, variances: variances)
        case .decisionTree, .randomForest, .gradientBoosting:
            guard labelKind == .float8 ? k == 0 : k >= 2 else { throw .badModel("tree model has \(k) classes for \(labelKind.name) labels") }
            parameters = .trees(try TreeEnsemble.decode(&p, algorithm: algorithm, featureCount: d, classCount: k))
        }
        guard p.atEnd else { throw .badModel("model parameter section has trailing bytes: damaged") }
        if algorithm.isClassifier, labelKind == .float8 { throw .badModel("label type does not fit the algorithm") }
        if algorithm.isRegressor, labelKind != .float8 { throw .badModel("label type does not fit the algorithm") }
        let model = Model(algorithm: algorithm, featureCount: d, trainingRows: rows, labelKind: labelKind,
                          classes: classes, parameters: parameters, options: options, info: info)
        _ = try model.preprocessor()   // the info's preprocessing must fit the model
        return model
    }

    /// A class label: valid UTF-8 without NUL (ml.predict returns it as text), in the
    /// text form of its SQL type.
    static func checkLabel(_ label: [UInt8], kind: LabelKind, index i: Int) throws(ScoreError) {
        guard let text = String(validating: label, as: UTF8.self), !label.contains(0) else {
            throw .badModel("class \(i + 1) has a label that is not valid UTF-8 text")
        }
        switch kind {
        case .boolean:
            guard text == "true" || text == "false" else { throw .badModel("class \(i + 1) of a boolean model is not true or false") }
        case .integer:
            guard Int64(text) != nil else { throw .badModel("class \(i + 1) of an integer model is not an integer") }
        case .float8, .text:
            break
        }
    }

    /// The options or info section: a JSON object, valid UTF-8, no NUL in any string.
    static func json(_ bytes: [UInt8], _ what: String) throws(ScoreError) -> String {
        guard let value = try? JSONValue.parse(bytes), case .object = value else {
            throw .badModel("model \(what) is not a JSON object: damaged")
        }
        guard !value.containsNUL, let text = String(validating: bytes, as: UTF8.self) else {
            throw .badModel("model \(what) holds a NUL character: damaged")
        }
        return text
    }

    /// Checks a model's info JSON as decode does (ml.with_info replaces it).
    public static func checkInfo(_ model: Model) throws(ScoreError) {
        _ = try json(Array(model.info.utf8), "info")
        _ = try model.preprocessor()
    }

    public static func decode(_ bytes: [UInt8]) throws(ScoreError) -> Model {
        try typed { try bytes.withUnsafeBytes { try decode($0) } }
    }
}

struct ByteWriter {
    var data: [UInt8] = []

    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func f64s(_ v: [Double]) { for x in v { f64(x) } }
    mutating func bytes(_ b: [UInt8]) {
        u32(UInt32(b.count))
        data += b
    }
    mutating func section(_ tag: ModelCodec.Tag, required: Bool, _ content: [UInt8]) {
        u16(tag.rawValue)
        u16(required ? 1 : 0)
        u32(UInt32(content.count))
        data += content
    }
}

/// Bounds-checked little-endian reads: a damaged value throws, never traps.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    var pos: Int
    let end: Int

    init(_ base: UnsafeRawBufferPointer, from: Int, to: Int) {
        self.base = base
        pos = from
        end = to
    }

    var atEnd: Bool { pos >= end }

    mutating func take(_ n: Int) throws(ScoreError) -> Int {
        guard n >= 0, n <= end - pos else { throw .badModel("model value ends early: truncated or damaged") }
        defer { pos += n }
        return pos
    }

    mutating func uint(_ size: Int) throws(ScoreError) -> UInt64 {
        let at = try take(size)
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(base[at + i]) << (8 * i) }
        return v
    }

    mutating func u8() throws(ScoreError) -> UInt8 { UInt8(try uint(1)) }
    mutating func u16() throws(ScoreError) -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws(ScoreError) -> UInt32 { UInt32(try uint(4)) }
    mutating func u64() throws(ScoreError) -> UInt64 { try uint(8) }

    mutating func f64() throws(ScoreError) -> Double {
        let v = Double(bitPattern: try u64())
        guard v.isFinite else { throw .badModel("model holds a non-finite parameter") }
        return v
    }

    mutating func f64s(_ n: Int) throws(ScoreError) -> [Double] {
        guard n >= 0, n <= (end - pos) / 8 else { throw .badModel("model value ends early: truncated or damaged") }
        var out: [Double] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try f64()) }
        return out
    }

    mutating func bytes() throws(ScoreError) -> [UInt8] {
        let n = Int(try u32())
        let at = try take(n)
        return Array(base[at..<(at + n)])
    }

    mutating func sub(_ n: Int) throws(ScoreError) -> ByteReader {
        let at = try take(n)
        return ByteReader(base, from: at, to: at + n)
    }

    /// The bytes not read yet.
    var rest: [UInt8] { Array(base[pos..<end]) }
}

extension JSONValue {
    /// Whether a key or string anywhere in the value holds U+0000 (jsonb cannot store it).
    var containsNUL: Bool {
        switch self {
        case .null, .bool, .number: return false
        case let .string(s): return s.utf8.contains(0)
        case let .array(items): return items.contains { $0.containsNUL }
        case let .object(members): return members.contains { $0.0.utf8.contains(0) || $0.1.containsNUL }
        }
    }
}
