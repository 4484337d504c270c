/// Training rows the host keeps in blocks (PostgreSQL keeps them in the aggregate's
/// memory): features row-major, labels as the host's class ids (0-based, in the order
/// the host first saw them).
public protocol RowBlocks {
    var featureCount: Int { get }
    /// Calls `body(features, labels, rowCount)` for every block, in a stable order.
    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Int32>, Int) throws(ScoreError) -> Void) throws(ScoreError)
}

/// Rows held in Swift arrays (tests, and small in-core uses).
public struct ArrayRows: RowBlocks {
    public let featureCount: Int
    public var features: [Double]
    public var labels: [Int32]
    public var blockSize: Int

    public init(featureCount: Int, features: [Double], labels: [Int32], blockSize: Int = 4096) {
        self.featureCount = featureCount
        self.features = features
        self.labels = labels
        self.blockSize = max(1, blockSize)
    }

    public func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Int32>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        let n = labels.count
        guard features.count == n * featureCount else {
            throw .badShape("\(features.count) feature values for \(n) rows of \(featureCount)")
        }
        var start = 0
        while start < n {
            let count = min(blockSize, n - start)
            let result: ScoreError? = features.withUnsafeBufferPointer { f in
                labels.withUnsafeBufferPointer { l in
                    do throws(ScoreError) {
                        try body(f.baseAddress! + start * featureCount, l.baseAddress! + start, count)
                        return nil
                    } catch { return error }
                }
            }
            if let result { throw result }
            start += count
        }
    }
}

/// Training rows with a numeric label (regression trees): features row-major, one
/// float8 target per row.
public protocol RegressionRowBlocks {
    var featureCount: Int { get }
    /// Calls `body(features, targets, rowCount)` for every block, in a stable order.
    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError)
}

/// Regression rows held in Swift arrays (tests, and small in-core uses).
public struct ArrayRegressionRows: RegressionRowBlocks {
    public let featureCount: Int
    public var features: [Double]
    public var targets: [Double]
    public var blockSize: Int

    public init(featureCount: Int, features: [Double], targets: [Double], blockSize: Int = 4096) {
        self.featureCount = featureCount
        self.features = features
        self.targets = targets
        self.blockSize = max(1, blockSize)
    }

    public func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
        let n = targets.count
        guard features.count == n * featureCount else {
            throw .badShape("\(features.count) feature values for \(n) rows of \(featureCount)")
        }
        var start = 0
        while start < n {
            let count = min(blockSize, n - start)
            let result: ScoreError? = features.withUnsafeBufferPointer { f in
                targets.withUnsafeBufferPointer { t in
                    do throws(ScoreError) {
                        try body(f.baseAddress! + start * featureCount, t.baseAddress! + start, count)
                        return nil
                    } catch { return error }
                }
            }
            if let result { throw result }
            start += count
        }
    }
}
