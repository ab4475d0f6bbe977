import Dispatch
import RecstreamCore
import Synchronization

/// Runs an ``EmbeddingTrainingRun`` with each mini-batch's gradient computed on several threads.
///
/// Scheme: synchronous data parallelism inside the batch, not Hogwild. The run draws the batch
/// (shuffle, negatives, copies of the vectors it touches) on the calling thread; `threads`
/// workers compute the gradient of disjoint, contiguous example ranges of that batch from the
/// batch alone (no shared mutable state, no locks on the tables, no unsafe code); the parts are
/// summed in range order and applied with Adagrad on the calling thread. Why not Hogwild: lock-free
/// racy writes to shared tables would need unsafe pointers and give a result that depends on
/// scheduling; this scheme is race-free, deterministic for a given thread count, and with one
/// thread it *is* ``EmbeddingTrainer/train(_:)`` (one part over the whole batch, the same calls).
/// Its cost is the serial share (drawing the batch and the Adagrad steps, about a sixth of the
/// single-thread time at the defaults) and one fork/join per batch.
///
/// Results for different thread counts differ in the last bits (float sums in another order).
public enum ParallelEmbeddingTrainer {
    /// Trains `run` to the end. `progress` is called after every batch with (applied, total).
    public static func train(
        _ run: inout EmbeddingTrainingRun, threads: Int, progress: ((Int, Int) -> Void)? = nil
    ) {
        _ = train(&run, threads: threads) { step in
            progress?(step.batchesApplied, step.totalBatches)
            return true
        }
    }

    /// What one applied batch did, for progress bars.
    public struct Step: Sendable {
        public var batchesApplied: Int
        public var totalBatches: Int
        /// Positives in the batch and their summed (weighted) loss.
        public var examples: Int
        public var loss: Double
    }

    /// Trains `run` until it is finished or `observe` (called after every batch) returns false.
    /// Returns whether the run finished.
    public static func train(
        _ run: inout EmbeddingTrainingRun, threads: Int, observe: (Step) -> Bool
    ) -> Bool {
        precondition(threads >= 1, "threads is \(threads)")
        let total = run.totalBatches
        while let batch = run.nextBatch() {
            let n = batch.exampleCount
            let parts = min(threads, n)
            let gradients: [EmbeddingGradient]
            if parts <= 1 {
                gradients = [batch.gradient(examples: 0..<n)]
            } else {
                let results = Mutex<[EmbeddingGradient?]>(Array(repeating: nil, count: parts))
                DispatchQueue.concurrentPerform(iterations: parts) { p in
                    let g = batch.gradient(examples: (n * p / parts)..<(n * (p + 1) / parts))
                    results.withLock { $0[p] = g }
                }
                gradients = results.withLock { $0.compactMap { $0 } }
            }
            run.apply(gradients, to: batch)
            let step = Step(
                batchesApplied: run.batchesApplied, totalBatches: total, examples: n,
                loss: gradients.reduce(0) { $0 + $1.loss })
            guard observe(step) else { return false }
        }
        return true
    }

    /// A full refresh trained on `threads` threads.
    public static func fullRefresh(
        parent: EmbeddingModel?, engagements: some Sequence<Engagement>, window: CooccurrenceWindow,
        configuration: EmbeddingConfiguration, logPosition: UInt64 = 0, threads: Int,
        progress: ((Int, Int) -> Void)? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingModel {
        var run = try EmbeddingTrainingRun.fullRefresh(
            parent: parent, engagements: engagements, window: window, configuration: configuration,
            logPosition: logPosition)
        train(&run, threads: threads, progress: progress)
        return run.finish()
    }

    /// An incremental update trained on `threads` threads.
    public static func incremental(
        served: EmbeddingModel, engagements: some Sequence<Engagement>, configuration: EmbeddingConfiguration,
        logPosition: UInt64 = 0, threads: Int, progress: ((Int, Int) -> Void)? = nil
    ) throws(EmbeddingTrainingError) -> EmbeddingModel {
        var run = try EmbeddingTrainingRun.incremental(
            served: served, engagements: engagements, configuration: configuration, logPosition: logPosition)
        train(&run, threads: threads, progress: progress)
        return run.finish()
    }
}
