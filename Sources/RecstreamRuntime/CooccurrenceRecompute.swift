import Foundation
import Logging
import Metrics
import RecstreamCore
import ServiceLifecycle

/// The exact ItemCF/Swing recompute: take a cut right after a commit, read every engagement of
/// the window up to the cut from the log, compute exactly on two threads (rows split in halves;
/// the result does not depend on the split), and swap it in atomically while ingest continues.
/// Runs are serialized: a request while one runs waits for it and then runs again.
actor CooccurrenceRecompute {
    let pipeline: IngestPipeline
    let repository: StateRepository
    let configuration: CooccurrenceConfiguration
    let logger: Logger
    let duration: Timer
    let lastSuccess: Gauge
    let failures: Counter

    init(pipeline: IngestPipeline, repository: StateRepository, configuration: CooccurrenceConfiguration, metricsFactory: any MetricsFactory, logger: Logger) {
        self.pipeline = pipeline
        self.repository = repository
        self.configuration = configuration
        self.logger = logger
        let job = [("job", "cooccurrence_recompute")]
        duration = Timer(label: "recstream_job_duration_seconds", dimensions: job, factory: metricsFactory)
        lastSuccess = Gauge(label: "recstream_job_last_success_timestamp_seconds", dimensions: job, factory: metricsFactory)
        failures = Counter(label: "recstream_job_failures_total", dimensions: job, factory: metricsFactory)
    }

    func run() async throws -> RecomputeReport {
        let started = ContinuousClock.now
        do {
            let (cut, sequence) = try await pipeline.requestCut()
            let repository = self.repository
            let configuration = self.configuration
            let engagements = try await onDedicatedThread(name: "recstream-recompute-read") { try repository.engagements(upTo: sequence) }
            let input = try await onDedicatedThread(name: "recstream-recompute-input") {
                ExactSimilarityInput(engagements: engagements, window: cut.window, configuration: configuration)
            }
            let middle = input.rowCount / 2
            async let first = onDedicatedThread(name: "recstream-recompute-0") { input.computeRows(0..<middle) }
            async let second = onDedicatedThread(name: "recstream-recompute-1") { input.computeRows(middle..<input.rowCount) }
            let parts = try await [first, second]
            let result = try await onDedicatedThread(name: "recstream-recompute-merge") {
                ExactSimilarities.merging(parts, input: input, cut: cut)
            }
            let swapped = pipeline.swapExact(result)
            let elapsed = ContinuousClock.now - started
            duration.recordNanoseconds(Int64(elapsed.seconds * 1e9))
            lastSuccess.record(Date().timeIntervalSince1970)
            let report = RecomputeReport(
                engagements: result.statistics.engagements, engagementsInWindow: result.statistics.engagementsInWindow,
                items: result.statistics.items, windowEndMillis: cut.window.end.millis, seconds: elapsed.seconds, swapped: swapped)
            logger.info(
                "exact co-occurrence recompute",
                metadata: [
                    "engagements": "\(report.engagementsInWindow)", "items": "\(report.items)",
                    "seconds": "\(String(format: "%.3f", report.seconds))", "swapped": "\(swapped)",
                ])
            return report
        } catch {
            failures.increment()
            pipeline.abandonExact()
            logger.error("exact co-occurrence recompute failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
