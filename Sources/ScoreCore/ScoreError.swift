/// Everything that can go wrong in the core, with a message that says what to do.
/// The ABI layer maps each case to a status code; the C glue maps that to an SQLSTATE.
public enum ScoreError: Error, Equatable {
    /// A value the caller passed is not acceptable (option, NaN feature, bad label).
    case badValue(String, hint: String = "")
    /// Arrays of the wrong length or shape.
    case badShape(String, hint: String = "")
    /// The data cannot determine a model (one class, collinear or constant columns, too few rows).
    case unfitData(String, hint: String = "")
    /// A model value that is truncated, corrupted or not a pgscore model.
    case badModel(String)
    /// A model written by a newer pgscore format than this build reads.
    case newerFormat(String)
    /// A size limit was reached.
    case limit(String, hint: String = "")
    /// A result is not a finite number (the model's parameters overflow for these features).
    case outOfRange(String)
    /// The host asked us to stop (query cancel, statement timeout).
    case interrupted

    public var message: String {
        switch self {
        case let .badValue(m, _), let .badShape(m, _), let .unfitData(m, _), let .limit(m, _): return m
        case let .badModel(m), let .newerFormat(m), let .outOfRange(m): return m
        case .interrupted: return "interrupted"
        }
    }

    public var hint: String {
        switch self {
        case let .badValue(_, h), let .badShape(_, h), let .unfitData(_, h), let .limit(_, h): return h
        case .badModel: return "The value was not produced by pgscore or was damaged; train the model again."
        case .newerFormat: return "Upgrade the pgscore extension to read this model."
        case .outOfRange: return "The features are far outside what the model was trained on."
        case .interrupted: return ""
        }
    }
}

/// A cooperative stop signal: long loops call it every few thousand rows.
/// The host returns true when a query cancel or timeout is pending.
public typealias StopCheck = () -> Bool

/// Runs `body`, which may only throw ScoreError, through stdlib APIs that are `rethrows`
/// (untyped): restores the error's type on the way out.
@inline(__always)
public func typed<T>(_ body: () throws -> T) throws(ScoreError) -> T {
    do {
        return try body()
    } catch let error as ScoreError {
        throw error
    } catch {
        throw .badValue("unexpected error: \(error)")
    }
}

/// How SQL writes a non-finite float8, for messages: NaN, Infinity, -Infinity.
public func sqlSpelling(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
    return JSONValue.format(v)
}
