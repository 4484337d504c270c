/// Gaussian naive Bayes from per-class feature moments: scikit-learn's GaussianNB
/// (population variances plus var_smoothing × the largest overall feature variance).
public enum NaiveBayes {
    /// `perClass` holds the diagonal moments of each class, in class order.
    public static func fit(perClass: [CenteredMoments], featureCount d: Int,
                           options: TrainingOptions) throws(ScoreError) -> Parameters {
        let k = perClass.count
        guard k >= 2 else {
            throw .unfitData("the labels hold only one class; a classifier needs at least two",
                             hint: "Check the label column and the WHERE clause.")
        }
        let n = perClass.reduce(0) { $0 + $1.count }
        guard n > 0 else { throw .unfitData("no rows to train on") }
        // Overall variance of each feature, from the class means and within-class sums.
        var grand = [Double](repeating: 0, count: d)
        for c in perClass { for j in 0..<d { grand[j] += Double(c.count) * c.mean[j] } }
        for j in 0..<d { grand[j] /= Double(n) }
        var largest = 0.0
        for j in 0..<d {
            var ss = 0.0
            for c in perClass {
                let dm = c.mean[j] - grand[j]
                ss += c.squares[j] + Double(c.count) * dm * dm
            }
            largest = max(largest, ss / Double(n))
        }
        guard largest > 0 else {
            throw .unfitData("every feature is constant, so naive Bayes has nothing to learn",
                             hint: "Use features that vary.")
        }
        let epsilon = options.varSmoothing * largest
        var prior: [Double] = []
        var means: [[Double]] = []
        var variances: [[Double]] = []
        for c in perClass {
            guard c.count > 0, c.mean.count == d else { throw .badValue("a class has no rows") }
            prior.append(Double(c.count) / Double(n))
            means.append(c.mean)
            let v = (0..<d).map { c.variance($0) + epsilon }
            if let j = v.firstIndex(where: { !($0 > 0) }) {
                throw .unfitData("feature \(j + 1) is constant within class \(prior.count) and var_smoothing is 0",
                                 hint: "Keep var_smoothing above 0 (the default is 1e-9).")
            }
            variances.append(v)
        }
        return .naiveBayes(prior: prior, means: means, variances: variances)
    }
}
