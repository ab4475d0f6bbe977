import RecstreamCore

/// The embedding jobs' settings: when they run, how many versions stay on disk, and the model's
/// own ``EmbeddingConfiguration``. Built from the `embedding.*` keys by
/// ``RecstreamConfiguration/embedding()``.
public struct EmbeddingSettings: Sendable {
    /// Run the jobs and serve the model. Default true.
    public var enabled = true
    /// Minutes after 00:00 UTC of the daily full refresh; nil: no scheduled full refresh. Default 03:00.
    public var fullRefreshMinuteOfDay: Int? = 180
    /// Wall-clock ms between incremental updates; 0: none scheduled. Default 900000 (15 min).
    public var incrementalIntervalMillis: Int64 = 900_000
    /// Published versions kept on disk (the served one and the newest full one always stay). Default 5.
    public var keepVersions = 5
    /// Training threads. Default 2.
    public var threads = 2
    /// The event-time window a full refresh trains on. Default 30 days (the engagement log's retention).
    public var windowMillis: Int64 = 30 * 86_400_000
    /// Publish gate: a full refresh, or an incremental update with no model served, with fewer
    /// training examples (distinct user–item positives) publishes nothing. Default 1000.
    public var minExamples = 1_000
    /// Publish gate: a new version whose recall@50 on the held-out engagements is more than this
    /// fraction below the served model's on the same engagements is written but not served
    /// (unless forced). 0...1; 1 never holds back. Default 0.2.
    public var maxRegression = 0.2
    public var model = EmbeddingConfiguration()

    public init() {}

    /// One line per setting out of range; empty when usable.
    public func validate() -> [String] {
        var p = model.validate().map { "embedding: \($0)" }
        if keepVersions < 1 { p.append("embedding.keep_versions is \(keepVersions); it must be >= 1") }
        if threads < 1 || threads > 256 { p.append("embedding.threads is \(threads); it must be in 1...256") }
        if windowMillis < 1 { p.append("embedding.window_days must be >= 1") }
        if minExamples < 0 { p.append("embedding.min_examples is \(minExamples); it must be >= 0") }
        if !(maxRegression >= 0 && maxRegression <= 1) {
            p.append("embedding.max_regression is \(maxRegression); it must be in 0...1")
        }
        return p
    }
}

/// The individual embedding settings (names after `embedding.`), with their help lines.
enum EmbeddingKeys {
    static let all: [(String, String)] = [
        ("enabled", "train, publish and serve embeddings, default true"),
        ("full_refresh_time", "daily full refresh at HH:MM UTC, or off, default 03:00"),
        ("incremental_interval_ms", "wall-clock ms between incremental updates (0 = none scheduled), default 900000"),
        ("keep_versions", "published model versions kept on disk, default 5"),
        ("threads", "training threads, default 2"),
        ("window_days", "days of event time a full refresh trains on, default 30"),
        ("min_examples", "publish gate: a full refresh (or a first model) with fewer training examples publishes nothing, default 1000"),
        ("max_regression", "publish gate: held-out recall@50 drop vs the served model over which a new version is not served (0...1), default 0.2"),
        ("dimension", "embedding dimension (multiple of 8), default 32"),
        ("temperature", "softmax temperature over cosines, default 0.2"),
        ("learning_rate", "Adagrad learning rate, default 0.3"),
        ("batch_size", "positives per mini-batch (in-batch negatives), default 128"),
        ("random_negatives", "popularity^0.75 negatives per batch, default 64"),
        ("epochs", "passes of a full refresh, default 5"),
        ("incremental_epochs", "passes of an incremental update, default 2"),
        ("log_q", "log-Q correction of sampled logits, default true"),
        ("min_engagements", "engagements before an id gets its own vector, default 3"),
        ("eviction_days", "an id unseen this many days loses its vector, default 30"),
        ("ivf_lists", "IVF lists (auto = sqrt(items)), default auto"),
        ("ivf_probes", "IVF lists scanned per query (nprobe), default 48"),
        ("seed", "seed of every random choice in training, default 1"),
    ]

    static func apply(_ name: String, _ value: String, to s: inout EmbeddingSettings) throws(ConfigurationError) {
        let key = "embedding.\(name)"
        func integer(_ range: ClosedRange<Int64> = 0...Int64(Int32.max)) throws(ConfigurationError) -> Int {
            Int(try ConfigurationKeys.int(key, value, range))
        }
        func number() throws(ConfigurationError) -> Double { try ConfigurationKeys.double(key, value) }
        switch name {
        case "enabled": s.enabled = try ConfigurationKeys.bool(key, value)
        case "full_refresh_time":
            let v = value.trimmingSpaces.lowercased()
            if v == "off" || v == "none" {
                s.fullRefreshMinuteOfDay = nil
            } else {
                let parts = v.split(separator: ":")
                guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m)
                else { throw ConfigurationError("\(key): expected HH:MM (UTC) or off, got '\(value)'") }
                s.fullRefreshMinuteOfDay = h * 60 + m
            }
        case "incremental_interval_ms": s.incrementalIntervalMillis = Int64(try integer())
        case "keep_versions": s.keepVersions = try integer(1...1000)
        case "threads": s.threads = try integer(1...256)
        case "window_days": s.windowMillis = Int64(try integer(1...3650)) * 86_400_000
        case "min_examples": s.minExamples = try integer()
        case "max_regression":
            let v = try number()
            guard v >= 0 && v <= 1 else { throw ConfigurationError("\(key): expected a fraction in 0...1, got '\(value)'") }
            s.maxRegression = v
        case "dimension": s.model.dimension = try integer()
        case "temperature": s.model.temperature = Float(try number())
        case "learning_rate": s.model.learningRate = Float(try number())
        case "batch_size": s.model.batchSize = try integer()
        case "random_negatives": s.model.randomNegatives = try integer()
        case "epochs": s.model.epochs = try integer()
        case "incremental_epochs": s.model.incrementalEpochs = try integer()
        case "log_q": s.model.logQCorrection = try ConfigurationKeys.bool(key, value)
        case "min_engagements": s.model.minEngagements = try integer()
        case "eviction_days": s.model.evictionWindowMillis = Int64(try integer(1...3650)) * 86_400_000
        case "ivf_lists": s.model.ivfLists = value.trimmingSpaces == "auto" ? nil : try integer(1...(1 << 20))
        case "ivf_probes": s.model.ivfProbes = try integer(1...(1 << 20))
        case "seed": s.model.seed = UInt64(try integer(0...Int64.max))
        default: throw ConfigurationError("unknown setting '\(key)'")
        }
    }

    /// The `embedding.*` configuration keys, stored as overrides like the co-occurrence ones.
    static func configurationKeys() -> [ConfigurationKey] {
        all.map { name, help in
            ConfigurationKey(
                name: "embedding.\(name)", help: help,
                apply: { c, v throws(ConfigurationError) in
                    var probe = EmbeddingSettings()
                    try apply(name, v, to: &probe)
                    c.embeddingOverrides[name] = v.trimmingSpaces
                },
                read: { $0.embeddingOverrides[name] ?? "(default)" })
        }
    }
}

extension RecstreamConfiguration {
    /// The embedding settings: defaults with every `embedding.*` override applied.
    /// - Throws: ``ConfigurationError`` naming the first bad key or every out-of-range setting.
    public func embedding() throws(ConfigurationError) -> EmbeddingSettings {
        var s = EmbeddingSettings()
        // Engagement weights follow the co-occurrence family's, so both read the same log the same way.
        if let c = try? cooccurrence() { s.model.weights = c.weights }
        for (name, value) in embeddingOverrides.sorted(by: { $0.key < $1.key }) {
            try EmbeddingKeys.apply(name, value, to: &s)
        }
        let problems = s.validate()
        guard problems.isEmpty else { throw ConfigurationError(problems.joined(separator: "\n")) }
        return s
    }
}
