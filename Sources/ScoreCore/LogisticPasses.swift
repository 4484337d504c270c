/// Logistic regression in passes over rows the host does not keep (MADlib's IRLS shape):
/// the host runs one aggregate pass per step, each summing into a state of O(p²) doubles
/// whatever the row count, and this type decides between passes what the next pass
/// computes. Pass 0 collects per-class moments (the standardisation and the classes);
/// every later pass is one evaluation (loss, gradient, Hessian) of the Newton search the
/// in-memory fit runs, at the same points, so both reach the same coefficients.
///
/// The state travels as bytes (a `bytea` between the passes of a PL/pgSQL loop), so it is
/// hostile input: `decode` proves every invariant the passes rely on.
public struct LogisticPassFit {
    public enum Phase: UInt8 { case moments = 0, evaluate = 1, done = 2 }

    public private(set) var phase: Phase
    /// The options as the user wrote them (JSON), parsed again by every pass.
    public let optionsText: String
    public let options: TrainingOptions
    /// Passes finished so far.
    public private(set) var passes: Int
    // set by pass 0
    public private(set) var labelKind: LabelKind
    public private(set) var classes: [[UInt8]]
    var problem: LogisticRegression.Problem?
    var search: LogisticRegression.NewtonSearch?
    // set when done
    var solution: [Double]
    var solutionLoss: Double

    static let magic: [UInt8] = Array("PGLP".utf8)
    static let format: UInt8 = 1

    public init(options text: String) throws(ScoreError) {
        optionsText = text
        options = try TrainingOptions.parse(text, for: .logisticRegression)
        phase = .moments
        passes = 0
        labelKind = .boolean
        classes = []
        solution = []
        solutionLoss = 0
    }

    public var featureCount: Int { problem?.d ?? 0 }
    public var classCount: Int { classes.count }
    /// Parameters of an evaluation pass (its sums hold 1 + p + p² doubles).
    public var parameterCount: Int { problem?.p ?? 0 }
    public var sumCount: Int { LogisticRegression.Accumulator.sumCount(parameters: parameterCount) }
    /// Training rows pass 0 counted (every later pass must see as many).
    public var rows: Int { problem?.n ?? 0 }
    public var iteration: Int { search?.iteration ?? 0 }
    public var loss: Double? { phase == .done ? solutionLoss : (search?.mode == .search ? search?.loss : nil) }

    /// Ends pass 0: per-class moments (features only, diagonal layout), classes sorted.
    public mutating func finishMoments(perClass: [UnsafePointer<Double>], featureCount d: Int,
                                       labelKind kind: LabelKind, classes labels: [[UInt8]]) throws(ScoreError) {
        guard phase == .moments else { throw .badValue("this fit state is past its first pass") }
        let k = perClass.count
        guard k >= 2 else {
            throw .unfitData("the labels hold only one class; a classifier needs at least two",
                             hint: "Check the label column and the WHERE clause.")
        }
        guard labels.count == k else { throw .badShape("\(labels.count) class labels for \(k) classes") }
        let layout = MomentsLayout(dim: d, full: false)
        var all = [Double](repeating: 0, count: layout.count)
        all.withUnsafeMutableBufferPointer { a in
            for block in perClass { layout.merge(into: a.baseAddress!, from: block) }
        }
        let counts = perClass.map { Int($0[0]) }
        let stats = all.withUnsafeBufferPointer { layout.centered($0.baseAddress!) }
        for j in 0..<d where !stats.mean[j].isFinite || !stats.squares[j].isFinite {
            throw .unfitData("feature \(j + 1) is too large to average", hint: "Rescale the features.")
        }
        let pr = try LogisticRegression.standardise(stats, classCounts: counts, classOf: (0..<k).map { Int32($0) },
                                                     classCount: k, options: options)
        problem = pr
        labelKind = kind
        classes = labels
        search = LogisticRegression.NewtonSearch(parameters: pr.p, options: options)
        phase = .evaluate
        passes += 1
    }

    /// Where the next evaluation pass evaluates (standardised units).
    public var point: [Double] { search?.point ?? [] }

    /// Adds rows to an evaluation pass's sums; labels are class indexes (sorted order).
    public func accumulate(_ x: UnsafePointer<Double>, classes labels: UnsafePointer<Int32>, rows count: Int,
                           point: [Double], into sums: UnsafeMutablePointer<Double>) throws(ScoreError) {
        guard let problem, phase == .evaluate else { throw .badValue("this fit state does not evaluate") }
        var acc = LogisticRegression.Accumulator(problem, point)
        try acc.add(x, labels, count, into: sums, stop: { false })
    }

    /// Ends an evaluation pass: its sums (1 + p + p²) over `rows` rows.
    public mutating func finishEvaluation(_ sums: [Double], rows: Int, stop: StopCheck) throws(ScoreError) {
        guard let problem, var search, phase == .evaluate else { throw .badValue("this fit state does not evaluate") }
        guard rows == problem.n else {
            throw .unfitData("the source held \(problem.n) training rows in the first pass and \(rows) in pass \(passes + 1)",
                             hint: "The rows changed between passes: train from a table nobody writes to meanwhile, or run the passes in one REPEATABLE READ transaction.")
        }
        guard sums.count == sumCount, sums.allSatisfy(\.isFinite) else {
            throw .unfitData("the loss or its derivatives are not finite", hint: "Rescale the features or raise l2.")
        }
        let e = LogisticRegression.finish(problem, search.point, sums)
        let next = try search.feed(e, l2: problem.l2, stop: stop)
        passes += 1
        self.search = search
        if case let .done(theta, loss) = next {
            _ = try LogisticRegression.parameters(problem, theta, loss: loss)   // refuses separable classes now
            solution = theta
            solutionLoss = loss
            phase = .done
        }
    }

    /// The model of a finished fit.
    public func model() throws(ScoreError) -> Model {
        guard let problem, phase == .done else {
            throw .badValue("the fit is not finished (phase \(phase), \(passes) passes)",
                            hint: "Run ml.logreg_step passes until ml.logreg_fit_info(state) ->> 'phase' is 'done'.")
        }
        let params = try LogisticRegression.parameters(problem, solution, loss: solutionLoss)
        return Model(algorithm: .logisticRegression, featureCount: problem.d, trainingRows: problem.n,
                     labelKind: labelKind, classes: classes, parameters: params,
                     options: options.json(for: .logisticRegression))
    }
}

// MARK: bytes

extension LogisticPassFit {
    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.data = Self.magic
        w.u8(Self.format)
        w.u8(phase.rawValue)
        w.bytes(Array(optionsText.utf8))
        w.u32(UInt32(passes))
        guard let problem, let search else { return w.data }
        w.u8(labelKind.rawValue)
        w.u32(UInt32(classes.count))
        for c in classes { w.bytes(c) }
        w.u32(UInt32(problem.d))
        w.u64(UInt64(problem.n))
        w.f64s(problem.center)
        w.f64s(problem.scale)
        for a in problem.active { w.u8(a ? 1 : 0) }
        w.u8(search.mode.rawValue)
        w.u32(UInt32(search.iteration))
        w.f64(search.loss)
        w.f64(search.decrease)
        w.f64(search.t)
        w.f64s(search.theta)
        w.f64s(search.step)
        if phase == .done {
            w.f64(solutionLoss)
            w.f64s(solution)
        }
        return w.data
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ScoreError) -> LogisticPassFit {
        do {
            return try decodeChecked(bytes)
        } catch {
            if case .badModel = error {
                throw .badModel("not a logistic regression fit state (damaged or truncated); start a fit with ml.logreg_start(options) and pass each ml.logreg_step result to the next pass")
            }
            throw error
        }
    }

    static func decodeChecked(_ bytes: UnsafeRawBufferPointer) throws(ScoreError) -> LogisticPassFit {
        var r = ByteReader(bytes, from: 0, to: bytes.count)
        let bad = ScoreError.badModel("fit state")
        for m in magic { guard try r.u8() == m else { throw bad } }
        guard try r.u8() == format else { throw bad }
        guard let phase = Phase(rawValue: try r.u8()) else { throw bad }
        let text = String(decoding: try r.bytes(), as: UTF8.self)
        var fit = try LogisticPassFit(options: text)
        fit.passes = Int(try r.u32())
        fit.phase = phase
        if phase == .moments {
            guard r.atEnd, fit.passes == 0 else { throw bad }
            return fit
        }
        guard let kind = LabelKind(rawValue: try r.u8()), kind != .float8 else { throw bad }
        let k = Int(try r.u32())
        guard k >= 2, k <= ModelCodec.maxClasses else { throw bad }
        var labels: [[UInt8]] = []
        for i in 0..<k {
            let label = try r.bytes()
            try ModelCodec.checkLabel(label, kind: kind, index: i)
            labels.append(label)
        }
        let d = Int(try r.u32())
        let n = Int(clamping: try r.u64())
        guard d >= 1, d <= ModelCodec.maxFeatures, n >= 1 else { throw bad }
        let center = try r.f64s(d)
        let scale = try r.f64s(d)
        guard scale.allSatisfy({ $0 > 0 }) else { throw bad }
        var active: [Bool] = []
        for _ in 0..<d {
            let a = try r.u8()
            guard a <= 1 else { throw bad }
            active.append(a == 1)
        }
        let pr = LogisticRegression.Problem(d: d, k: k, intercept: fit.options.intercept, center: center, scale: scale,
                                            active: active, classOf: (0..<k).map { Int32($0) }, l2: fit.options.l2, n: n)
        guard pr.p <= LogisticRegression.maxParameters else { throw bad }
        guard let mode = LogisticRegression.NewtonSearch.Mode(rawValue: try r.u8()) else { throw bad }
        let iteration = Int(try r.u32())
        let loss = try r.f64(), decrease = try r.f64(), t = try r.f64()
        guard t > 0, t <= 1, iteration <= fit.options.maxIterations else { throw bad }
        let theta = try r.f64s(pr.p), step = try r.f64s(pr.p)
        fit.search = LogisticRegression.NewtonSearch(mode: mode, theta: theta, step: step, loss: loss, decrease: decrease,
                                                     t: t, iteration: iteration, maxIterations: fit.options.maxIterations,
                                                     tolerance: fit.options.tolerance)
        if phase == .done {
            fit.solutionLoss = try r.f64()
            fit.solution = try r.f64s(pr.p)
        }
        guard r.atEnd else { throw bad }
        fit.problem = pr
        fit.labelKind = kind
        fit.classes = labels
        return fit
    }
}
