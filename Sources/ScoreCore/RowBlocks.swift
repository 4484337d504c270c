/// Training rows the host keeps in blocks (PostgreSQL keeps them in the aggregate's
/// memory): features row-major, labels as the host's class ids (0-based, in the order
/// the host first saw them).
public protocol RowBlocks {
    var featureCount: Int { get }
    /// Calls `body(features, labels, rowCount)` for every block, in a stable order.
    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Int32>, Int) throws(ScoreError) -> Void) throws(ScoreError)
}

/// Training rows with a numeric label (regression trees): features row-major, one
/// float8 target per row.
public protocol RegressionRowBlocks {
    var featureCount: Int { get }
    /// Calls `body(features, targets, rowCount)` for every block, in a stable order.
    func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Double>, Int) throws(ScoreError) -> Void) throws(ScoreError)
}

/// Rows held in Swift arrays (tests, and small in-core uses): class ids (`ArrayRows`)
/// or numeric targets (`ArrayRegressionRows`), handed out in blocks like the host does.
public struct ArrayBlocks<Label> {
    public let featureCount: Int
    public var features: [Double]
    public var labels: [Label]
    public var blockSize: Int

    public func forEachBlock(_ body: (UnsafePointer<Double>, UnsafePointer<Label>, Int) throws(ScoreError) -> Void) throws(ScoreError) {
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

public typealias ArrayRows = ArrayBlocks<Int32>
public typealias ArrayRegressionRows = ArrayBlocks<Double>

extension ArrayBlocks: RowBlocks where Label == Int32 {
    public init(featureCount: Int, features: [Double], labels: [Int32], blockSize: Int = 4096) {
        self.featureCount = featureCount
        self.features = features
        self.labels = labels
        self.blockSize = max(1, blockSize)
    }
}

extension ArrayBlocks: RegressionRowBlocks where Label == Double {
    public init(featureCount: Int, features: [Double], targets: [Double], blockSize: Int = 4096) {
        self.featureCount = featureCount
        self.features = features
        labels = targets
        self.blockSize = max(1, blockSize)
    }

    public var targets: [Double] { labels }
}
