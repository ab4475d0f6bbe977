import RecstreamCore

/// The table behind every way of setting configuration: a config file, environment variables
/// and flags all name settings by these keys and parse values the same way, so precedence
/// (defaults < file < environment < flags) is one loop.
public struct ConfigurationKey: Sendable {
    /// Dotted key used in files (`kafka.brokers`).
    public let name: String
    /// One-line description with unit and default, for `--help` and docs.
    public let help: String
    let apply: @Sendable (inout RecstreamConfiguration, String) throws(ConfigurationError) -> Void
    let read: @Sendable (RecstreamConfiguration) -> String

    /// The environment variable: `RECSTREAM_` + the key upper-cased with dots as underscores.
    public var environmentVariable: String {
        "RECSTREAM_" + name.uppercased().replacingOccurrences(".", with: "_")
    }
}

/// A setting that could not be applied.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension String {
    fileprivate func replacingOccurrences(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

public enum ConfigurationKeys {
    static func int(_ key: String, _ value: String, _ range: ClosedRange<Int64>) throws(ConfigurationError) -> Int64 {
        guard let v = Int64(value.trimmingSpaces), range.contains(v) else {
            throw ConfigurationError("\(key): expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(value)'")
        }
        return v
    }

    static func bool(_ key: String, _ value: String) throws(ConfigurationError) -> Bool {
        switch value.trimmingSpaces.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError("\(key): expected true or false, got '\(value)'")
        }
    }

    static func double(_ key: String, _ value: String) throws(ConfigurationError) -> Double {
        guard let v = Double(value.trimmingSpaces), v.isFinite else {
            throw ConfigurationError("\(key): expected a number, got '\(value)'")
        }
        return v
    }

    static func string(
        _ name: String, _ help: String, _ path: any WritableKeyPath<RecstreamConfiguration, String> & Sendable
    ) -> ConfigurationKey {
        ConfigurationKey(name: name, help: help, apply: { c, v in c[keyPath: path] = v.trimmingSpaces }, read: { $0[keyPath: path] })
    }

    /// A key whose value is one of a string enumeration's cases (errors list them in order).
    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ help: String, _ path: any WritableKeyPath<RecstreamConfiguration, E> & Sendable
    ) -> ConfigurationKey where E.RawValue == String {
        ConfigurationKey(
            name: name, help: help,
            apply: { c, v throws(ConfigurationError) in
                guard let e = E(rawValue: v.trimmingSpaces) else {
                    let names = E.allCases.map(\.rawValue)
                    let expected = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
                    throw ConfigurationError("\(name): expected \(expected), got '\(v)'")
                }
                c[keyPath: path] = e
            },
            read: { $0[keyPath: path].rawValue })
    }

    static func integer(
        _ name: String, _ help: String, _ path: any WritableKeyPath<RecstreamConfiguration, Int> & Sendable,
        _ range: ClosedRange<Int64>
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, apply: { c, v throws(ConfigurationError) in c[keyPath: path] = Int(try int(name, v, range)) },
            read: { String($0[keyPath: path]) })
    }

    static func flag(
        _ name: String, _ help: String, _ path: any WritableKeyPath<RecstreamConfiguration, Bool> & Sendable
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, apply: { c, v throws(ConfigurationError) in c[keyPath: path] = try bool(name, v) },
            read: { String($0[keyPath: path]) })
    }

    static func millis(
        _ name: String, _ help: String, _ path: any WritableKeyPath<RecstreamConfiguration, Int64> & Sendable
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, help: help, apply: { c, v throws(ConfigurationError) in c[keyPath: path] = try int(name, v, 0...Int64.max) },
            read: { String($0[keyPath: path]) })
    }

    static func priorKeys() -> [ConfigurationKey] {
        RateKind.allCases.flatMap { kind -> [ConfigurationKey] in
            let defaults = StatsConfiguration.defaultPriors[kind]!
            return [
                ConfigurationKey(
                    name: "stats.priors.\(kind.rawValue).alpha",
                    help: "Beta prior alpha of \(kind.rawValue) (pseudo-events), default \(defaults.alpha)",
                    apply: { c, v throws(ConfigurationError) in
                        c.stats.priors[kind]?.alpha = try double("stats.priors.\(kind.rawValue).alpha", v)
                    },
                    read: { "\($0.stats.prior(kind).alpha)" }),
                ConfigurationKey(
                    name: "stats.priors.\(kind.rawValue).beta",
                    help: "Beta prior beta of \(kind.rawValue) (pseudo-non-events), default \(defaults.beta)",
                    apply: { c, v throws(ConfigurationError) in
                        c.stats.priors[kind]?.beta = try double("stats.priors.\(kind.rawValue).beta", v)
                    },
                    read: { "\($0.stats.prior(kind).beta)" }),
            ]
        }
    }

    /// Every key, in documentation order.
    public static let all: [ConfigurationKey] = [
        ConfigurationKey(
            name: "kafka.brokers", help: "bootstrap servers HOST:PORT[,...]; unset = start the embedded broker",
            apply: { c, v in c.brokers = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.brokers ?? "(embedded)" }),
        string("kafka.group_id", "consumer group id, default recstream", \.groupID),
        string("kafka.events_topic", "input topic, default recstream.events", \.eventsTopic),
        string("kafka.dead_letter_topic", "dead-letter topic, default recstream.events.dlq", \.deadLetterTopic),
        ConfigurationKey(
            name: "kafka.items_topic", help: "internal item repartition topic (split mode), default <group id>.items",
            apply: { c, v in c.itemsTopicSetting = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.itemsTopic }),
        ConfigurationKey(
            name: "kafka.engagements_topic", help: "internal one-partition engagement topic (split mode), default <group id>.engagements",
            apply: { c, v in c.engagementsTopicSetting = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.engagementsTopic }),
        choice(
            "pipeline.mode",
            "single (default: one instance owns every partition) or split (user-keyed stage forwards to item-side stages through internal topics, stores have changelogs; instances can share partitions)",
            \.pipelineMode),
        choice("pipeline.stages", "stages this instance runs in split mode: all (default), user or item", \.pipelineStages),
        integer("kafka.events_partitions", "partitions when creating the events topic, default 8", \.eventsPartitions, 1...10_000),
        integer(
            "kafka.dead_letter_partitions", "partitions when creating the dead-letter topic, default 1",
            \.deadLetterPartitions, 1...10_000),
        integer("kafka.replication_factor", "replication factor of created topics, default 1", \.replicationFactor, 1...32),
        flag("kafka.create_topics", "create missing topics at start, default true", \.createTopics),
        ConfigurationKey(
            name: "instance.id", help: "this instance's identity in the group directory, default <host name>:<absolute state dir>",
            apply: { c, v in c.instanceID = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.instanceID ?? "(host:state dir)" }),
        choice("kafka.start_from", "where a partition without state starts: earliest (default) or latest", \.startFrom),
        string("http.address", "query API HOST:PORT (port 0 = any free port), default 127.0.0.1:8080", \.httpAddress),
        ConfigurationKey(
            name: "http.advertised_url", help: "split mode: base URL other instances forward queries to, default the bound address",
            apply: { c, v in c.advertisedURL = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.advertisedURL ?? "(bound address)" }),
        integer("http.max_batch_items", "ids per batch query, default 1000", \.maxBatchItems, 1...1_000_000),
        integer("http.max_body_bytes", "largest request body, default 1048576", \.maxBodyBytes, 1024...(1 << 30)),
        ConfigurationKey(
            name: "http.admin_token", help: "bearer token for /v1/admin/* (unset: admin only on a loopback address); never printed",
            apply: { c, v in c.adminToken = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.adminToken == nil ? "(unset)" : "********" }),
        ConfigurationKey(
            name: "http.admin_address", help: "serve /v1/admin/* on this separate HOST:PORT, default unset (same as http.address)",
            apply: { c, v in c.adminAddress = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.adminAddress ?? "(same as http.address)" }),
        integer("http.ready_max_lag", "/readyz fails above this total lag, default 100000", \.readyMaxLag, 0...Int64.max),
        ConfigurationKey(
            name: "state.dir", help: "state directory; unset with the embedded broker = a fresh temporary directory",
            apply: { c, v in c.stateDir = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.stateDir ?? "(temporary)" }),
        ConfigurationKey(
            name: "state.checkpoint_dir", help: "where admin checkpoints go, default <state.dir>.checkpoints",
            apply: { c, v in c.checkpointDir = v.trimmingSpaces.isEmpty ? nil : v.trimmingSpaces },
            read: { $0.checkpointDir ?? "(<state dir>.checkpoints)" }),
        integer(
            "state.cache_bytes", "memory for paged state entries (item statistics, exposure filters; a cache of the store), all shards together, default 268435456",
            \.cacheBytes, (1 << 20)...(1 << 46)),
        integer("state.block_cache_bytes", "RocksDB block cache (uncompressed table blocks), default 67108864", \.blockCacheBytes, (1 << 20)...(1 << 46)),
        integer(
            "state.write_buffer_bytes", "RocksDB memtable size; up to two at once, default 67108864", \.writeBufferBytes,
            (1 << 20)...(1 << 40)),
        millis("state.commit_interval_ms", "ms between atomic commits of state and offsets, default 1000", \.commitIntervalMillis),
        flag("state.sync_writes", "fsync the write-ahead log on each commit, default true", \.syncWrites),
        choice(
            "state.verify",
            "read every stored record once to verify checksums: background (default: after the start, beside ingest; damage fails /readyz), blocking (before serving; damage refuses the start) or off",
            \.verify),
        integer("ingest.max_batch", "records per poll, default 1000", \.maxBatch, 1...100_000),
        integer("ingest.max_record_bytes", "largest record value accepted, default 65536", \.maxRecordBytes, 256...(64 << 20)),
        millis("ingest.allowed_lateness_ms", "how far behind the watermark an event is still applied, default 600000", \.allowedLatenessMillis),
        millis("ingest.dedup_window_ms", "how long event ids are remembered, default 600000", \.dedupWindowMillis),
        millis(
            "ingest.max_future_ms", "events stamped further ahead of the wall clock go to the dead-letter topic (future_ts), default 300000",
            \.maxFutureMillis),
        millis("ingest.stall_after_ms", "no completed commit for this long = stalled (status, /readyz 503, metric), default 60000", \.stallAfterMillis),
        integer(
            "dead_letter.max_value_bytes", "longer refused values are cut to this in the dead-letter topic, default 65536",
            \.deadLetterMaxValueBytes, 1024...(900 * 1024)),
        millis(
            "dead_letter.timeout_ms", "a dead-letter record not acknowledged within this is recorded as undeliverable, default 30000",
            \.deadLetterTimeoutMillis),
        integer(
            "state.max_dictionary_ids", "ids per dictionary; new ids beyond go to the dead-letter topic (dictionary_full), default 2000000000",
            \.maxDictionaryIDs, 1...2_000_000_000),
        flag("item_stats.enabled", "keep item statistics (off: no per-event cost, routes answer 404), default true", \.itemStatisticsEnabled),
        flag("exposure.enabled", "keep exposure filters (off: no per-event cost, routes answer 404), default true", \.exposureEnabled),
        flag("cooccurrence.enabled", "keep ItemCF/Swing and LastN histories (off: no per-event cost, routes answer 404), default true", \.cooccurrenceEnabled),
        flag("lookalike.enabled", "keep look-alike seed lists and summaries (off: no per-event cost, routes answer 404), default true", \.lookalikeEnabled),
        integer("exposure.retention_days", "days of event time an exposure is remembered, default 30", \.exposureRetentionDays, 1...3650),
        integer("exposure.slice_count", "time slices of the retention (sharper expiry costs bits), default 6", \.exposureSliceCount, 1...1024),
        ConfigurationKey(
            name: "exposure.target_fpr", help: "false-positive rate of a whole check, default 0.01",
            apply: { c, v throws(ConfigurationError) in c.exposureTargetFPR = try double("exposure.target_fpr", v) },
            read: { "\($0.exposureTargetFPR)" }),
        flag("exposure.click_implies_exposure", "a click on an unseen item records an exposure too, default false", \.clickImpliesExposure),
    ] + cooccurrenceKeys() + EmbeddingKeys.configurationKeys() + priorKeys() + LookalikeSettingKeys.keys()

    /// The `cooccurrence.*` keys: each is stored as an override and applied to the preset by
    /// ``RecstreamConfiguration/cooccurrence()``.
    static func cooccurrenceKeys() -> [ConfigurationKey] {
        [
            ConfigurationKey(
                name: "cooccurrence.preset", help: "default, flink-ml or alink (Swing parameters of those libraries), default default",
                apply: { c, v in c.cooccurrencePreset = v.trimmingSpaces }, read: { $0.cooccurrencePreset })
        ]
            + CooccurrenceKeys.all.map { name, help in
                ConfigurationKey(
                    name: "cooccurrence.\(name)", help: help,
                    apply: { c, v in c.cooccurrenceOverrides[name] = v.trimmingSpaces },
                    read: { $0.cooccurrenceOverrides[name] ?? "(preset)" })
            }
    }

    /// The key named `name`, or nil.
    public static func key(named name: String) -> ConfigurationKey? { all.first { $0.name == name } }

    /// Applies `value` to the setting `name` (`kafka.properties.*` included).
    public static func apply(_ name: String, _ value: String, to configuration: inout RecstreamConfiguration)
        throws(ConfigurationError)
    {
        if name.hasPrefix("kafka.properties.") {
            let property = String(name.dropFirst("kafka.properties.".count))
            guard !property.isEmpty else { throw ConfigurationError("kafka.properties needs a librdkafka key after the dot") }
            configuration.kafkaProperties[property] = value
            return
        }
        guard let key = key(named: name) else {
            throw ConfigurationError("unknown setting '\(name)'; `recstream run --help` lists them")
        }
        try key.apply(&configuration, value)
    }

    /// Applies every `RECSTREAM_*` variable of `environment`. `RECSTREAM_KAFKA_PROPERTY_<X>` sets
    /// librdkafka property x with underscores as dots (`..._SASL_PASSWORD` → `sasl.password`).
    public static func applyEnvironment(_ environment: [String: String], to configuration: inout RecstreamConfiguration)
        throws(ConfigurationError)
    {
        for key in all {
            if let value = environment[key.environmentVariable] { try key.apply(&configuration, value) }
        }
        let prefix = "RECSTREAM_KAFKA_PROPERTY_"
        for (name, value) in environment where name.hasPrefix(prefix) {
            let property = name.dropFirst(prefix.count).lowercased().replacingOccurrences("_", with: ".")
            configuration.kafkaProperties[property] = value
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// The individual co-occurrence settings (names after `cooccurrence.`).
enum CooccurrenceKeys {
    static let all: [(String, String)] = [
        ("window_days", "co-occurrence window in days of event time, default 30"),
        ("history_length", "N of the LastN history and of the items an engagement pairs with, default 50"),
        ("recent_users_per_item", "Swing: recent users kept per item, default 100"),
        ("top_k", "neighbours per item returned by default, default 100"),
        ("candidates_per_item", "neighbour candidates kept per item and method, default 200"),
        ("itemcf_activity_penalty", "weight each user's ItemCF contribution by 1/log(1+|I_u|), default false"),
        ("swing.alpha", "Swing alpha (overlap smoothing), default 1"),
        ("swing.alpha1", "Swing alpha1 (activity smoothing in the user weight), default 5"),
        ("swing.beta", "Swing beta (user weight exponent), default 0.3"),
        ("swing.min_user_items", "leave users with fewer distinct items out of Swing, default none"),
        ("swing.max_user_items", "leave users with more distinct items out of Swing, default none"),
        ("pathological_user_items", "users with more distinct items in the window are left out everywhere, default 1000"),
        ("recompute_interval_ms", "wall-clock ms between exact recomputes, default 600000"),
        ("weights.click", "engagement weight of a click (0 = not an engagement), default 1"),
        ("weights.like", "engagement weight of a like, default 2"),
        ("weights.collect", "engagement weight of a collect, default 3"),
        ("weights.share", "engagement weight of a share, default 3"),
        ("weights.comment", "engagement weight of a comment, default 2"),
    ]

    static func apply(_ name: String, _ value: String, to c: inout CooccurrenceConfiguration) throws(ConfigurationError) {
        let key = "cooccurrence.\(name)"
        func integer() throws(ConfigurationError) -> Int { Int(try ConfigurationKeys.int(key, value, 0...Int64(Int32.max))) }
        func number() throws(ConfigurationError) -> Double { try ConfigurationKeys.double(key, value) }
        switch name {
        case "window_days": c.windowMillis = Int64(try integer()) * 86_400_000
        case "history_length": c.historyLength = try integer()
        case "recent_users_per_item": c.recentUsersPerItem = try integer()
        case "top_k": c.topK = try integer()
        case "candidates_per_item": c.candidatesPerItem = try integer()
        case "itemcf_activity_penalty": c.itemCFActivityPenalty = try ConfigurationKeys.bool(key, value)
        case "swing.alpha": c.swing.alpha = try number()
        case "swing.alpha1": c.swing.alpha1 = try number()
        case "swing.beta": c.swing.beta = try number()
        case "swing.min_user_items": c.swing.minUserItems = try integer()
        case "swing.max_user_items": c.swing.maxUserItems = try integer()
        case "pathological_user_items": c.pathologicalUserItems = try integer()
        case "recompute_interval_ms": c.exactRecomputeIntervalMillis = Int64(try integer())
        case "weights.click": c.weights.click = try number()
        case "weights.like": c.weights.like = try number()
        case "weights.collect": c.weights.collect = try number()
        case "weights.share": c.weights.share = try number()
        case "weights.comment": c.weights.comment = try number()
        default: throw ConfigurationError("unknown setting '\(key)'")
        }
    }
}
