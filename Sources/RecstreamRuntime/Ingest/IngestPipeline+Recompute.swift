import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// Cuts for the exact co-occurrence recompute, taken on the ingest thread.
extension IngestPipeline {
    // MARK: Exact recompute cuts


    /// Commits, then takes a co-occurrence cut on the ingest thread: the returned log sequence
    /// covers exactly the engagements before the cut.
    func requestCut() async throws -> (cut: CooccurrenceCut, logSequence: UInt64) {
        try await withCheckedThrowingContinuation { continuation in
            cutRequests.withLock { $0.append(continuation) }
        }
    }

    func serveCutRequests(consumer: KafkaConsumer) {
        let pending = cutRequests.withLock { requests -> [CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>] in
            defer { requests.removeAll() }
            return requests
        }
        guard !pending.isEmpty else { return }
        guard withState({ $0.ownsEngagements }) else {
            for continuation in pending { continuation.resume(throwing: ForwardError(description: "this instance does not own the engagement stage (split mode); the recompute runs on its owner")) }
            return
        }
        commit(consumer: consumer)
        let cut = withState { $0.instance.beginExactRecompute() }
        for continuation in pending { continuation.resume(returning: cut) }
    }

    func failCutRequests(reason: String) {
        let pending = cutRequests.withLock { requests -> [CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>] in
            defer { requests.removeAll() }
            return requests
        }
        for continuation in pending { continuation.resume(throwing: CancellationError()) }
        if !pending.isEmpty { logger.info("exact recompute not started: \(reason)") }
    }

    /// Swaps an exact result in under the engine lock (any thread).
    func swapExact(_ result: ExactSimilarities) -> Bool {
        engine.lock.withLock { engine.state.instance.replaceWithExact(result) }
    }

    func abandonExact() { engine.lock.withLock { engine.state.instance.abandonExactRecompute() } }
}
