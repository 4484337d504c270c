/// Least squares with an optional ridge penalty, solved from the centered moments of
/// (features, label): the same answer as scikit-learn's LinearRegression / Ridge.
public enum LinearRegression {
    /// `moments` are over the vector (x₁…x_d, y), so their dimension is d + 1.
    public static func fit(_ moments: CenteredMoments, featureCount d: Int,
                           options: TrainingOptions) throws(ScoreError) -> Parameters {
        let n = moments.count
        let m = d + 1
        guard moments.mean.count == m else { throw .badShape("moments have dimension \(moments.mean.count), expected \(m)") }
        let l2 = options.l2
        let needed = options.intercept ? d + 1 : d
        if l2 == 0, n < needed {
            throw .unfitData("linear regression with \(d) features needs at least \(needed) rows, got \(n)",
                             hint: "Add rows, drop features, or add a ridge penalty, e.g. '{\"l2\": 1}'.")
        }
        var a = [Double](repeating: 0, count: d * d)
        var b = [Double](repeating: 0, count: d)
        let mu = moments.mean
        let c = moments.comoment
        let nd = Double(n)
        for i in 0..<d {
            for j in 0..<d {
                a[i * d + j] = c[i * m + j] + (options.intercept ? 0 : nd * mu[i] * mu[j])
            }
            b[i] = c[i * m + d] + (options.intercept ? 0 : nd * mu[i] * mu[d])
            a[i * d + i] += l2
        }
        let w: [Double]
        do {
            w = try Cholesky.solve(a, b, n: d)
        } catch {
            switch error {
            case .emptyColumn(let j):
                throw .unfitData("feature \(j + 1) is constant\(options.intercept ? "" : " zero"), so its coefficient is undetermined",
                                 hint: "Drop the column, or add a ridge penalty, e.g. '{\"l2\": 1}'.")
            case .interrupted:
                throw .interrupted
            case .dependentColumn(let j):
                throw .unfitData("feature \(j + 1) is collinear with features before it (a linear combination of them)",
                                 hint: "Drop one of the dependent columns, or add a ridge penalty, e.g. '{\"l2\": 1}'.")
            }
        }
        var intercept = 0.0
        if options.intercept {
            intercept = mu[d]
            for j in 0..<d { intercept -= mu[j] * w[j] }
        }
        guard intercept.isFinite, w.allSatisfy(\.isFinite) else {
            throw .unfitData("the solution is not finite; the features are too badly scaled or collinear",
                             hint: "Rescale the features or add a ridge penalty.")
        }
        return .linear(intercept: intercept, coefficients: w)
    }
}
