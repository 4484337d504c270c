#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gradient-boosted trees with second-order (Newton) leaves, as XGBoost's `hist`
/// method: each round fits a tree to the gradients g and hessians h of the loss at the
/// current scores, a leaf gets w = −G/(H + λ) times the learning rate, splits maximise
/// G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) over histogram bins.
///
/// Losses: squared error (regression: g = F − y, h = 1); logistic (two classes, one
/// score F = log-odds of the second class: g = p − y, h = p(1 − p)); softmax (K > 2
/// classes, one tree per class per round, from the gradients at the round's start:
/// g = p_c − [y = c], h = p_c(1 − p_c)). Start scores: the mean target, the log-odds of
/// the class frequencies, or the log class frequencies.
///
/// subsample < 1 draws each training row into a round with that probability.
/// early_stopping_rounds > 0 holds out validation_fraction of the rows (per class, so
/// every class keeps training rows), stops when the validation loss has not improved
/// for that many rounds, and keeps the rounds up to the best one.
///
/// Extra memory: scores, gradients and hessians, 24 bytes per row and score channel,
/// and two row lists (8n).
public enum GradientBoosting {
    enum Loss {
        case squared, logistic, softmax
    }

    static func fit(_ data: TreeData, options o: TrainingOptions, stop: StopCheck) throws(ScoreError) -> TreeEnsemble {
        let n = data.n, k = data.classCount, d = data.d
        let channels = k > 2 ? k : 1
        let loss: Loss = k == 0 ? .squared : (k == 2 ? .logistic : .softmax)
        var rng = TreeRandom(seed: o.seed)

        // Training and validation rows.
        var validation = [Bool](repeating: false, count: n)
        if o.earlyStoppingRounds > 0 {
            var groups: [[Int]] = k > 0 ? [[Int]](repeating: [], count: k) : [[]]
            for r in 0..<n { groups[k > 0 ? Int(data.label[r]) : 0].append(r) }
            for var g in groups {
                let take = min(Int((o.validationFraction * Double(g.count)).rounded()), g.count - 1)
                guard take > 0 else { continue }
                for q in 0..<take {
                    g.swapAt(q, q + rng.below(g.count - q))
                    validation[g[q]] = true
                }
            }
        }
        var trainRows: [Int32] = []
        var validRows: [Int32] = []
        for r in 0..<n {
            if validation[r] { validRows.append(Int32(r)) } else { trainRows.append(Int32(r)) }
        }
        if o.earlyStoppingRounds > 0, validRows.isEmpty {
            throw .unfitData("early stopping needs validation rows: \(n) rows with validation_fraction \(JSONValue.format(o.validationFraction)) leave none",
                             hint: "Add rows, raise validation_fraction, or drop early_stopping_rounds.")
        }
        let nt = trainRows.count

        // Start scores.
        var base = [Double](repeating: 0, count: channels)
        switch loss {
        case .squared:
            var s = 0.0
            for r in trainRows { s += data.target[Int(r)] }
            base[0] = s / Double(nt)
        case .logistic:
            var ones = 0
            for r in trainRows where data.label[Int(r)] == 1 { ones += 1 }
            let p = min(max(Double(ones) / Double(nt), 1e-15), 1 - 1e-15)
            base[0] = log(p / (1 - p))
        case .softmax:
            var counts = [Int](repeating: 0, count: k)
            for r in trainRows { counts[Int(data.label[Int(r)])] += 1 }
            for c in 0..<k { base[c] = log(max(Double(counts[c]), 1e-15) / Double(nt)) }
        }

        let scores = UnsafeMutablePointer<Double>.allocate(capacity: n * channels)
        let grad = UnsafeMutablePointer<Double>.allocate(capacity: n * channels)
        let hess = UnsafeMutablePointer<Double>.allocate(capacity: n * channels)
        let sample = UnsafeMutablePointer<Int32>.allocate(capacity: max(nt, 1))
        let rows = UnsafeMutablePointer<Int32>.allocate(capacity: max(nt, 1))
        let prob = UnsafeMutablePointer<Double>.allocate(capacity: channels)
        var inSample = [Bool](repeating: false, count: o.subsample < 1 ? n : 0)
        defer {
            scores.deallocate()
            grad.deallocate()
            hess.deallocate()
            sample.deallocate()
            rows.deallocate()
            prob.deallocate()
        }
        for r in 0..<n { for c in 0..<channels { scores[r * channels + c] = base[c] } }

        let m = o.featuresPerSplit.count(features: d, classification: k > 0, algorithm: .gradientBoosting)
        let grower = try TreeGrower(data: data, mode: .boosting,
                                    settings: GrowSettings(maxDepth: o.maxDepth, minSamplesLeaf: o.minSamplesLeaf,
                                                           minChildWeight: o.minChildWeight, lambda: o.lambda,
                                                           featuresPerSplit: m),
                                    maxRows: nt)
        grower.leafScale = o.learningRate
        var out = EnsembleBuilder(outputs: 1, featureCount: d, byteLimit: o.maxModelBytes)
        let missingCode = data.binCount.map { Int32($0) }
        var bestLoss = Double.infinity
        var bestRounds = 0

        for round in 0..<o.trees {
            if stop() { throw .interrupted }
            // Gradients and hessians at the current scores.
            for r32 in trainRows {
                let r = Int(r32)
                switch loss {
                case .squared:
                    grad[r] = scores[r] - data.target[r]
                    hess[r] = 1
                case .logistic:
                    let s = scores[r]
                    let p = s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s))
                    grad[r] = p - (data.label[r] == 1 ? 1 : 0)
                    hess[r] = max(p * (1 - p), 1e-16)
                case .softmax:
                    let f = scores + r * channels
                    var top = f[0]
                    for c in 1..<channels { top = max(top, f[c]) }
                    var sum = 0.0
                    for c in 0..<channels {
                        prob[c] = exp(f[c] - top)
                        sum += prob[c]
                    }
                    let y = Int(data.label[r])
                    for c in 0..<channels {
                        let p = prob[c] / sum
                        grad[c * n + r] = p - (c == y ? 1 : 0)
                        hess[c * n + r] = max(p * (1 - p), 1e-16)
                    }
                }
            }
            // This round's rows.
            var count = 0
            if o.subsample < 1 {
                for r in trainRows where rng.unit() < o.subsample {
                    sample[count] = r
                    count += 1
                    inSample[Int(r)] = true
                }
                if count == 0 {
                    let r = trainRows[rng.below(nt)]
                    sample[0] = r
                    inSample[Int(r)] = true
                    count = 1
                }
            } else {
                for (i, r) in trainRows.enumerated() { sample[i] = r }
                count = nt
            }
            for c in 0..<channels {
                rows.update(from: sample, count: count)
                grower.grad = UnsafePointer(grad + c * n)
                grower.hess = UnsafePointer(hess + c * n)
                out.startTree(score: c)
                try grower.grow(rows: rows, count: count, rng: &rng, into: &out, stop: stop)
                let t = out.treeStart.count - 1
                for leaf in grower.leaves {
                    let v = out.values[Int(out.left[leaf.node])]
                    for i in leaf.begin..<leaf.end { scores[Int(rows[i]) * channels + c] += v }
                }
                missingCode.withUnsafeBufferPointer { mc in
                    if o.subsample < 1 {
                        for r32 in trainRows where !inSample[Int(r32)] {
                            let r = Int(r32)
                            scores[r * channels + c] += out.values[out.leaf(tree: t, codes: data.codes + r * d, missingCode: mc.baseAddress!)]
                        }
                    }
                    for r32 in validRows {
                        let r = Int(r32)
                        scores[r * channels + c] += out.values[out.leaf(tree: t, codes: data.codes + r * d, missingCode: mc.baseAddress!)]
                    }
                }
            }
            if o.subsample < 1 { for i in 0..<count { inSample[Int(sample[i])] = false } }

            if o.earlyStoppingRounds > 0 {
                var total = 0.0
                for r32 in validRows {
                    let r = Int(r32)
                    switch loss {
                    case .squared:
                        let e = scores[r] - data.target[r]
                        total += e * e
                    case .logistic:
                        let s = scores[r]
                        let softplus = s > 0 ? s + log1p(exp(-s)) : log1p(exp(s))
                        total += softplus - (data.label[r] == 1 ? s : 0)
                    case .softmax:
                        let f = scores + r * channels
                        var top = f[0]
                        for c in 1..<channels { top = max(top, f[c]) }
                        var sum = 0.0
                        for c in 0..<channels { sum += exp(f[c] - top) }
                        total += top + log(sum) - f[Int(data.label[r])]
                    }
                }
                let l = total / Double(validRows.count)
                if l < bestLoss - 1e-12 * abs(bestLoss) || bestLoss == .infinity {
                    bestLoss = l
                    bestRounds = round + 1
                } else if round + 1 - bestRounds >= o.earlyStoppingRounds {
                    break
                }
            }
        }
        if o.earlyStoppingRounds > 0 { out.truncate(trees: bestRounds * channels) }
        return out.ensemble(combine: .sum, scores: channels, base: base)
    }
}
