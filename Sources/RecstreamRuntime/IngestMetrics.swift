import CoreMetrics
import Metrics
import RecstreamCore

/// The ingest path's metrics, created once from an injected factory (Prometheus in production,
/// a test kit in tests). The hot path counts into plain integers per batch and adds them here
/// once per batch.
final class IngestMetrics {
    let applied: [Counter]
    let duplicates: Counter
    let late: Counter
    let rejected: [RejectReason: Counter]
    let dataLoss: Counter
    let commits: Counter
    let commitFailures: Counter
    let commitDuration: Timer
    let commitBytes: Recorder
    let commitRecords: Recorder
    let deadLetterPending: Gauge
    /// `recstream_dlq_undeliverable_total{reason}`: refused records the dead-letter topic did not
    /// take, recorded in the state store instead.
    let undeliverable: [RejectReason: Counter]
    let watermark: Gauge
    /// `recstream_dictionary_full_skipped_total`: forwarded records (split mode) skipped because
    /// an id dictionary of the receiving stage was full. Refused input records count in
    /// `recstream_dlq_records_total{reason="dictionary_full"}` instead.
    let dictionaryFullSkipped: Counter
    /// `recstream_state_cache_bytes`, `recstream_state_cache_loads_total`,
    /// `recstream_state_cache_evicted_bytes_total`: the paged-state cache.
    let cacheBytes: Gauge
    let cacheLoads: Counter
    let cacheEvictedBytes: Counter
    let factory: any MetricsFactory
    private var familyEntries: [String: Gauge] = [:]
    private var familyBytes: [String: Gauge] = [:]

    /// `recstream_state_entries{family}` and `recstream_state_bytes{family}`.
    func recordSize(family: String, entries: Int, bytes: Int) {
        let e = familyEntries[family] ?? Gauge(label: "recstream_state_entries", dimensions: [("family", family)], factory: factory)
        let b = familyBytes[family] ?? Gauge(label: "recstream_state_bytes", dimensions: [("family", family)], factory: factory)
        familyEntries[family] = e
        familyBytes[family] = b
        e.record(entries)
        b.record(bytes)
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
        applied = EventType.allCases.map {
            Counter(label: "recstream_events_applied_total", dimensions: [("type", $0.name)], factory: factory)
        }
        duplicates = Counter(label: "recstream_events_duplicate_total", factory: factory)
        late = Counter(label: "recstream_events_late_dropped_total", factory: factory)
        var rejected: [RejectReason: Counter] = [:]
        for reason in RejectReason.allCases {
            rejected[reason] = Counter(label: "recstream_dlq_records_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.rejected = rejected
        var undeliverable: [RejectReason: Counter] = [:]
        for reason in RejectReason.allCases {
            undeliverable[reason] = Counter(
                label: "recstream_dlq_undeliverable_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        self.undeliverable = undeliverable
        dataLoss = Counter(label: "recstream_data_loss_records_total", factory: factory)
        commits = Counter(label: "recstream_commits_total", factory: factory)
        commitFailures = Counter(label: "recstream_commit_failures_total", factory: factory)
        commitDuration = Timer(label: "recstream_commit_duration_seconds", factory: factory)
        commitBytes = Recorder(label: "recstream_commit_bytes", factory: factory)
        commitRecords = Recorder(label: "recstream_commit_records", factory: factory)
        deadLetterPending = Gauge(label: "recstream_dlq_pending_records", factory: factory)
        watermark = Gauge(label: "recstream_watermark_millis", factory: factory)
        dictionaryFullSkipped = Counter(label: "recstream_dictionary_full_skipped_total", factory: factory)
        cacheBytes = Gauge(label: "recstream_state_cache_bytes", factory: factory)
        cacheLoads = Counter(label: "recstream_state_cache_loads_total", factory: factory)
        cacheEvictedBytes = Counter(label: "recstream_state_cache_evicted_bytes_total", factory: factory)
    }
}

/// Per-batch tallies, flushed into ``IngestMetrics`` after each batch.
struct BatchTally {
    var applied = [Int](repeating: 0, count: EventType.count)
    var duplicates = 0
    var late = 0
    var rejected: [RejectReason: Int] = [:]

    mutating func flush(into metrics: IngestMetrics) {
        for i in 0..<EventType.count where applied[i] > 0 {
            metrics.applied[i].increment(by: Int64(applied[i]))
            applied[i] = 0
        }
        if duplicates > 0 { metrics.duplicates.increment(by: Int64(duplicates)) }
        if late > 0 { metrics.late.increment(by: Int64(late)) }
        for (reason, n) in rejected { metrics.rejected[reason]?.increment(by: Int64(n)) }
        duplicates = 0
        late = 0
        rejected.removeAll(keepingCapacity: true)
    }
}
