import Testing
@testable import ScoreCore

@Suite struct ModelCodecTests {
    static let models: [Model] = [
        Model(algorithm: .linearRegression, featureCount: 3, trainingRows: 1234, labelKind: .float8, classes: [],
              parameters: .linear(intercept: -0.125, coefficients: [1e-300, -2.5e200, 0.1]),
              options: #"{"l2":0,"intercept":true,"nulls":"error"}"#,
              info: #"{"features":["a","b","c"]}"#),
        Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 50, labelKind: .boolean,
              classes: [Array("false".utf8), Array("true".utf8)],
              parameters: .logistic(intercepts: [0.75], coefficients: [[1.5, -3.25]]),
              options: #"{"l2":1,"intercept":true,"max_iter":100,"tol":1e-10,"nulls":"skip"}"#),
        Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 150, labelKind: .text,
              classes: ["setosa", "versicolor", "virgínica ✓", ""].map { Array($0.utf8) },
              parameters: .logistic(intercepts: [0.1, 0.2, -0.3, 0], coefficients: [[1, 2], [3, 4], [5, 6], [-9, -12]]),
              options: #"{"l2":0.5}"#, info: #"{"note":"ünïcode \"quoted\""}"#),
        Model(algorithm: .naiveBayes, featureCount: 1, trainingRows: 7, labelKind: .integer,
              classes: ["-1", "42", "7"].map { Array($0.utf8) },
              parameters: .naiveBayes(prior: [0.25, 0.5, 0.25], means: [[1], [-2], [3.5]], variances: [[0.5], [1e-9], [2]]),
              options: #"{"var_smoothing":1e-9,"nulls":"error"}"#),
    ]

    // MARK: helpers that read and write the documented layout independently of the codec

    static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func readLE(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
        (0..<n).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) }
    }

    struct Section { var tag: UInt16; var flags: UInt16; var content: [UInt8] }

    static func sections(of blob: [UInt8]) -> [Section] {
        var out: [Section] = []
        var pos = 24
        while pos < blob.count {
            let len = Int(readLE(blob, pos + 4, 4))
            out.append(Section(tag: UInt16(readLE(blob, pos, 2)), flags: UInt16(readLE(blob, pos + 2, 2)),
                               content: Array(blob[(pos + 8)..<(pos + 8 + len)])))
            pos += 8 + len
        }
        return out
    }

    static func assemble(_ sections: [Section], version: UInt16 = 1) -> [UInt8] {
        var body: [UInt8] = []
        for s in sections { body += le(UInt64(s.tag), 2) + le(UInt64(s.flags), 2) + le(UInt64(s.content.count), 4) + s.content }
        return Array("PGSM".utf8) + le(UInt64(version), 2) + le(0, 2) + le(UInt64(body.count), 4) + le(0, 4)
            + le(CRC64.checksum(body), 8) + body
    }

    static func decodeError(_ blob: [UInt8]) -> ScoreError? {
        do {
            _ = try ModelCodec.decode(blob)
            return nil
        } catch { return error }
    }

    static func isBadModel(_ e: ScoreError?) -> Bool {
        if case .badModel = e { return true }
        return false
    }

    static func isNewer(_ e: ScoreError?) -> Bool {
        if case .newerFormat = e { return true }
        return false
    }

    // MARK: tests

    @Test func crc64IsXZ() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0x995D_C9BB_DF19_39FA)
        #expect(CRC64.checksum([UInt8]()) == 0)
    }

    @Test(arguments: 0..<4)
    func roundTrip(index: Int) throws {
        let m = Self.models[index]
        let blob = ModelCodec.encode(m)
        let back = try ModelCodec.decode(blob)
        #expect(back == m)
        #expect(back.options == m.options)
        #expect(back.info == m.info)
        #expect(back.classes == m.classes)
        // Encoding is deterministic.
        #expect(ModelCodec.encode(back) == blob)
    }

    @Test func documentedLayout() {
        let m = Self.models[1]
        let blob = ModelCodec.encode(m)
        #expect(Array(blob[0..<4]) == Array("PGSM".utf8))
        #expect(Self.readLE(blob, 4, 2) == 1)
        #expect(Self.readLE(blob, 6, 2) == 0)
        #expect(Int(Self.readLE(blob, 8, 4)) == blob.count - 24)
        #expect(Self.readLE(blob, 12, 4) == 0)
        #expect(Self.readLE(blob, 16, 8) == CRC64.checksum(Array(blob[24...])))
        let s = Self.sections(of: blob)
        #expect(s.map(\.tag) == [1, 2, 3, 4])
        #expect(s.map(\.flags) == [1, 1, 0, 0])
        // Core: u16 algorithm, u8 label kind, u8 0, u32 features, u64 rows, u32 classes, (u32 len, bytes)…
        let core: [UInt8] = Self.le(2, 2) + [1, 0] + Self.le(2, 4) + Self.le(50, 8) + Self.le(2, 4)
            + Self.le(5, 4) + Array("false".utf8) + Self.le(4, 4) + Array("true".utf8)
        #expect(s[0].content == core)
        // Parameters: u32 score rows, intercepts, coefficient rows, as IEEE doubles.
        let params: [UInt8] = Self.le(1, 4) + Self.le(0.75.bitPattern, 8) + Self.le(1.5.bitPattern, 8)
            + Self.le((-3.25).bitPattern, 8)
        #expect(s[1].content == params)
        #expect(s[2].content == Array(m.options.utf8))
        #expect(s[3].content == Array("{}".utf8))
        // The hand assembler reproduces the codec's bytes exactly.
        #expect(Self.assemble(s) == blob)
    }

    @Test(arguments: 0..<4)
    func everyTruncationIsBadModel(index: Int) {
        let blob = ModelCodec.encode(Self.models[index])
        var failures: [Int] = []
        for length in 0..<blob.count where !Self.isBadModel(Self.decodeError(Array(blob[..<length]))) {
            failures.append(length)
        }
        #expect(failures.isEmpty, "truncations not reported as badModel: \(failures)")
    }

    @Test(arguments: 0..<4)
    func everyBodyByteFlipIsBadModel(index: Int) {
        let blob = ModelCodec.encode(Self.models[index])
        var failures: [String] = []
        for i in 24..<blob.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = blob
                damaged[i] ^= mask
                let e = Self.decodeError(damaged)
                guard case let .badModel(message) = e, message.contains("checksum") else {
                    failures.append("byte \(i) ^ \(mask): \(String(describing: e))")
                    continue
                }
            }
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func checksumAndLengthFieldsAreChecked() {
        let blob = ModelCodec.encode(Self.models[0])
        for i in 16..<24 {
            var damaged = blob
            damaged[i] ^= 0x10
            #expect(Self.isBadModel(Self.decodeError(damaged)), "crc byte \(i)")
        }
        for i in 8..<12 {
            var damaged = blob
            damaged[i] ^= 0x01
            #expect(Self.isBadModel(Self.decodeError(damaged)), "length byte \(i)")
        }
        // Extra bytes after the body.
        #expect(Self.isBadModel(Self.decodeError(blob + [0])))
    }

    @Test func badMagic() {
        var blob = ModelCodec.encode(Self.models[0])
        blob[0] = UInt8(ascii: "X")
        #expect(Self.isBadModel(Self.decodeError(blob)))
        #expect(Self.isBadModel(Self.decodeError(Array(repeating: 0, count: 64))))
    }

    @Test func versions() {
        let s = Self.sections(of: ModelCodec.encode(Self.models[2]))
        #expect(Self.isNewer(Self.decodeError(Self.assemble(s, version: 2))))
        #expect(Self.isNewer(Self.decodeError(Self.assemble(s, version: 0xFFFF))))
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s, version: 0))))
        #expect((try? ModelCodec.decode(Self.assemble(s, version: 1))) == Self.models[2])
    }

    @Test(arguments: [UInt16(0), 2, 0x8000, 0xFFFE])
    func unknownOptionalSectionIsRefused(flags: UInt16) {
        // One encoding per model: a section format 1 does not define is damage, not a fact to skip.
        for (index, m) in Self.models.enumerated() {
            var s = Self.sections(of: ModelCodec.encode(m))
            s.append(Section(tag: 5, flags: flags, content: Array("later facts".utf8)))
            #expect(Self.isBadModel(Self.decodeError(Self.assemble(s))), "model \(index)")
        }
    }

    @Test(arguments: [UInt16(1), 3, 0xFFFF])
    func unknownRequiredSectionIsNewerFormat(flags: UInt16) {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s.append(Section(tag: 77, flags: flags, content: [9, 9]))
        #expect(Self.isNewer(Self.decodeError(Self.assemble(s))))
    }

    @Test func missingSectionsAreBadModel() {
        let s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s.filter { $0.tag != 1 }))))
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s.filter { $0.tag != 2 }))))
        #expect(Self.isBadModel(Self.decodeError(Self.assemble([]))))
        // Options and info are part of the one canonical encoding.
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s.filter { $0.tag <= 2 }))))
    }

    @Test func sectionLengthBeyondTheBody() {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s.append(Section(tag: 4, flags: 0, content: []))
        var blob = Self.assemble(s)
        // Point the last (empty) section's length past the end, then fix the checksum.
        let lengthAt = blob.count - 4
        blob.replaceSubrange(lengthAt..<blob.count, with: Self.le(1000, 4))
        blob.replaceSubrange(16..<24, with: Self.le(CRC64.checksum(Array(blob[24...])), 8))
        #expect(Self.isBadModel(Self.decodeError(blob)))
    }

    @Test func unknownAlgorithmIsNewerFormat() {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s[0].content.replaceSubrange(0..<2, with: Self.le(9, 2))
        #expect(Self.isNewer(Self.decodeError(Self.assemble(s))))
    }

    @Test func inconsistentModelsAreBadModel() {
        func check(_ m: Model, _ what: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(Self.isBadModel(Self.decodeError(ModelCodec.encode(m))), what, sourceLocation: sourceLocation)
        }
        var m = Self.models[2]
        m.parameters = .logistic(intercepts: [0.1], coefficients: [[1, 2]])
        check(m, "4 classes with 1 score row")
        m = Self.models[1]
        m.parameters = .logistic(intercepts: [0.1, 0.2], coefficients: [[1, 2], [3, 4]])
        check(m, "2 classes with 2 score rows")
        m = Self.models[1]
        m.classes = [Array("x".utf8)]
        m.parameters = .logistic(intercepts: [0.1], coefficients: [[1, 2]])
        check(m, "one class")
        m = Self.models[0]
        m.classes = [Array("x".utf8)]
        check(m, "regression with classes")
        m = Self.models[0]
        m.labelKind = .text
        check(m, "regression with text labels")
        m = Self.models[1]
        m.labelKind = .float8
        check(m, "classifier with float8 labels")
        m = Self.models[3]
        m.parameters = .naiveBayes(prior: [0.25, 0.5, 0.25], means: [[1], [-2], [3.5]], variances: [[0.5], [0], [2]])
        check(m, "zero variance")
        m = Self.models[3]
        m.parameters = .naiveBayes(prior: [0.5, 0.5, 0], means: [[1], [-2], [3.5]], variances: [[0.5], [1], [2]])
        check(m, "zero prior")
        m = Self.models[0]
        m.parameters = .linear(intercept: .nan, coefficients: [1, 2, 3])
        check(m, "NaN intercept")
        m = Self.models[0]
        m.parameters = .linear(intercept: 0, coefficients: [1, .infinity, 3])
        check(m, "infinite coefficient")
        m = Self.models[0]
        m.featureCount = 0
        m.parameters = .linear(intercept: 0, coefficients: [])
        check(m, "no features")
        m = Self.models[0]
        m.featureCount = 4
        check(m, "fewer coefficients than features")
    }

    @Test func unknownLabelKindIsBadModel() {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s[0].content[2] = 9
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s))))
    }

    static func isLimit(_ e: ScoreError?) -> Bool {
        if case .limit = e { return true }
        return false
    }

    @Test func hugeClassCountIsALimit() {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        // Class count at core offset 16: claims 2^26 − 1 classes in a tiny blob.
        s[0].content.replaceSubrange(16..<20, with: Self.le(UInt64(1 << 26) - 1, 4))
        #expect(Self.isLimit(Self.decodeError(Self.assemble(s))))
        s[0].content.replaceSubrange(16..<20, with: Self.le(UInt64(UInt32.max), 4))
        #expect(Self.isLimit(Self.decodeError(Self.assemble(s))))
    }

    @Test func hugeFeatureCountIsALimit() {
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s[0].content.replaceSubrange(4..<8, with: Self.le(UInt64(UInt32.max), 4))
        #expect(Self.isLimit(Self.decodeError(Self.assemble(s))))
        s[0].content.replaceSubrange(4..<8, with: Self.le(1 << 25, 4))
        #expect(Self.isLimit(Self.decodeError(Self.assemble(s))))
    }

    @Test
    func hugeTrainingRowCountIsBadModel() {
        // A crafted value with a valid checksum and rows ≥ 2^63 must be refused, not trap.
        var s = Self.sections(of: ModelCodec.encode(Self.models[1]))
        s[0].content.replaceSubrange(8..<16, with: Self.le(UInt64.max, 8))
        #expect(Self.isBadModel(Self.decodeError(Self.assemble(s))))
    }
}
