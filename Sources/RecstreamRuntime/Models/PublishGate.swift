import Foundation
import RecstreamCore

/// What stands between a training run and the served model (docs/embeddings.md, "Publish gate"):
///
/// 1. Minimum examples: a full refresh, or an incremental update while no model is served, with
///    fewer than `minExamples` training examples (distinct user–item positives) publishes nothing.
///    An incremental update of a served model has no minimum: it starts from that model and moves
///    only the vectors its engagements touch, so a quiet interval cannot empty it.
/// 2. Regression: the new model and the served one are scored on the same recent held-out
///    engagements (``ValidationSplit/standard``: pairs neither trained on). A relative drop of
///    recall@50 over `maxRegression`, by more than two standard errors of the paired per-user
///    difference, writes the version but does not serve it, unless forced.
struct PublishGate: Sendable {
    var minExamples: Int
    var maxRegression: Double

    /// Recall is measured at this depth.
    static let k = 50
    static let metric = "recall@\(k)"
    /// The newest held-out pairs scored (bounds the cost: one retrieval per test user per model).
    static let maxPairs = 5_000
    /// Fewer test users than this and the two models are not compared (the new one is served).
    static let minimumUsers = 30
    /// "Clearly" worse: the relative drop exceeds `maxRegression` by more than this many standard
    /// errors of the paired per-user difference, so a small held-out set's noise holds nothing back.
    static let standardErrors = 2.0

    init(settings: EmbeddingSettings) {
        minExamples = settings.minExamples
        maxRegression = settings.maxRegression
    }

    /// Whether a run with `examples` training examples must not publish, and why; nil when it may.
    func refusal(kind: EmbeddingModelKind, examples: Int, served: EmbeddingModelVersion?) -> String? {
        guard kind == .full || served == nil, examples < minExamples else { return nil }
        let run = kind == .full ? "full refresh" : "incremental update with no model served"
        let after =
            served.map { "model \($0) stays served" }
            ?? (kind == .full
                ? "no model is served" : "no model is served; the engagements stay in the log for the next update")
        return "\(run): \(examples) training examples (distinct user-item positives), below embedding.min_examples="
            + "\(minExamples); nothing published, \(after)"
    }

    /// The verdict on a trained model scored as `evaluation` (its `servedValue` nil when no model
    /// is served); `servedExcludesHeldOut` says whether the served model's lineage kept out of the
    /// held-out pairs (``ModelManifest/excludesHeldOut``): if not, it is not compared against.
    func verdict(_ evaluation: ModelEvaluation, servedExcludesHeldOut: Bool = true, force: Bool) -> ModelGateVerdict {
        guard let servedVersion = evaluation.servedVersion, let servedValue = evaluation.servedValue else {
            return ModelGateVerdict(
                decision: ModelGateVerdict.served,
                reason: "not compared: no model was served; \(Self.metric) \(Self.fixed(evaluation.value)) on "
                    + "\(evaluation.users) held-out users")
        }
        guard servedExcludesHeldOut else {
            return ModelGateVerdict(
                decision: ModelGateVerdict.served,
                reason: "not compared: served \(servedVersion) comes from a model trained before the held-out split "
                    + "(it may have learnt the held-out pairs); the next full refresh starts a comparable lineage")
        }
        guard evaluation.users >= Self.minimumUsers else {
            return ModelGateVerdict(
                decision: ModelGateVerdict.served,
                reason: "not compared: \(evaluation.users) held-out users, fewer than \(Self.minimumUsers)")
        }
        let margin = Self.standardErrors * (evaluation.relativeChangeStandardError ?? 0)
        var comparison = "\(Self.metric) \(Self.fixed(evaluation.value)) vs \(Self.fixed(servedValue)) of served \(servedVersion)"
        if let change = evaluation.relativeChange {
            comparison += " (\(Self.percent(change))"
            if evaluation.relativeChangeStandardError != nil { comparison += " ± \(Self.percent(margin, sign: false))" }
            comparison += ")"
        }
        comparison += " on \(evaluation.users) held-out users"
        let threshold = "embedding.max_regression=\(Self.fraction(maxRegression))"
        guard let change = evaluation.relativeChange, -change > maxRegression else {
            return ModelGateVerdict(decision: ModelGateVerdict.served, reason: "\(comparison), within \(threshold)")
        }
        guard -(change + margin) > maxRegression else {
            return ModelGateVerdict(
                decision: ModelGateVerdict.served,
                reason: "\(comparison), not clearly over \(threshold) (within two standard errors)")
        }
        return ModelGateVerdict(
            decision: force ? ModelGateVerdict.forced : ModelGateVerdict.heldBack, reason: "\(comparison), over \(threshold)")
    }

    /// "-19%", "+6%"; without the sign for a margin.
    static func percent(_ x: Double, sign: Bool = true) -> String { String(format: sign ? "%+.0f%%" : "%.0f%%", x * 100) }

    static func fixed(_ x: Double) -> String { String(format: "%.4f", x) }

    /// 0.2, 0.25, 1: no trailing zeros.
    static func fraction(_ x: Double) -> String {
        var s = String(format: "%.4f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
