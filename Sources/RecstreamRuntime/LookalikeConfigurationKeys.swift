import RecstreamCore

/// The individual look-alike settings (names after `lookalike.`), applied to
/// ``LookalikeConfiguration/default`` by ``RecstreamConfiguration/lookalike()``.
enum LookalikeSettingKeys {
    static let all: [(String, String)] = [
        ("seeds_per_item", "S: distinct recent engagers kept per item, default 500"),
        ("seed_expiry_days", "days of event time a seed is kept, default 30"),
        ("minimum_seeds", "cold-start gate: seeds an item needs before it is scored, default 100"),
        ("clusters", "k of the seeds' k-means, default 20"),
        ("kmeans_iterations", "most Lloyd iterations of the seeds' k-means, default 10"),
        ("global_temperature", "temperature of the seeds' self-attention pooling, default 0.1"),
        ("local_temperature", "temperature of the online local attention, default 0.1"),
        ("beta", "weight of the global embedding in the score (1 - beta for the local one), default 0.3"),
        ("summary_interval_ms", "wall-clock ms between summary job runs, default 60000"),
        ("max_scored_items", "items per score request (more: 400), default 1000"),
        ("max_expansion", "largest k of an audience expansion, default 10000"),
    ]

    static func apply(_ name: String, _ value: String, to c: inout LookalikeConfiguration) throws(ConfigurationError) {
        let key = "lookalike.\(name)"
        func integer() throws(ConfigurationError) -> Int {
            Int(try ConfigurationKeys.int(key, value, 0...Int64(Int32.max)))
        }
        func number() throws(ConfigurationError) -> Double { try ConfigurationKeys.double(key, value) }
        switch name {
        case "seeds_per_item": c.seedsPerItem = try integer()
        case "seed_expiry_days": c.seedExpiryMillis = Int64(try integer()) * 86_400_000
        case "minimum_seeds": c.minimumSeeds = try integer()
        case "clusters": c.clusters = try integer()
        case "kmeans_iterations": c.kMeansIterations = try integer()
        case "global_temperature": c.globalTemperature = try number()
        case "local_temperature": c.localTemperature = try number()
        case "beta": c.beta = try number()
        case "summary_interval_ms": c.summaryIntervalMillis = Int64(try integer())
        case "max_scored_items": c.maximumScoredItems = try integer()
        case "max_expansion": c.maximumExpansion = try integer()
        default: throw ConfigurationError("unknown setting '\(key)'")
        }
    }

    /// The `lookalike.*` keys: each is stored as an override and applied by
    /// ``RecstreamConfiguration/lookalike()``.
    static func keys() -> [ConfigurationKey] {
        all.map { name, help in
            ConfigurationKey(
                name: "lookalike.\(name)", help: help,
                apply: { c, v in c.lookalikeOverrides[name] = v.trimmingSpaces },
                read: { $0.lookalikeOverrides[name] ?? "(default)" })
        }
    }
}

extension RecstreamConfiguration {
    /// The look-alike configuration: the defaults, then the `lookalike.*` overrides.
    public func lookalike() throws(ConfigurationError) -> LookalikeConfiguration {
        var c = LookalikeConfiguration.default
        for (key, value) in lookalikeOverrides.sorted(by: { $0.key < $1.key }) {
            try LookalikeSettingKeys.apply(key, value, to: &c)
        }
        let problems = c.validate()
        guard problems.isEmpty else {
            throw ConfigurationError(problems.map { "lookalike: \($0)" }.joined(separator: "\n"))
        }
        return c
    }
}
