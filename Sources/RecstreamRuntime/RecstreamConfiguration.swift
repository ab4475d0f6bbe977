import RecstreamCore

/// Everything `recstream run` can be told, with the defaults it uses when told nothing. Every
/// setting has one dotted key (e.g. `kafka.brokers`) used in the config file, one environment
/// variable (`RECSTREAM_KAFKA_BROKERS`) and, for the common ones, a flag; see
/// ``ConfigurationKeys`` and docs/configuration.md.
public struct RecstreamConfiguration: Sendable {
    // MARK: kafka
    /// Bootstrap servers, `HOST:PORT[,...]`. Nil: start the embedded broker. Key `kafka.brokers`.
    public var brokers: String? = nil
    /// Consumer group id. Key `kafka.group_id`, default `recstream`.
    public var groupID = "recstream"
    /// Input topic. Key `kafka.events_topic`, default `recstream.events`.
    public var eventsTopic = "recstream.events"
    /// Dead-letter topic. Key `kafka.dead_letter_topic`, default `recstream.events.dlq`.
    public var deadLetterTopic = "recstream.events.dlq"
    /// Internal item repartition topic (split mode; created with the events topic's partition
    /// count). Key `kafka.items_topic`, default `<group id>.items`. Internal topics are named
    /// after the group, as Kafka Streams names them after the application id, so two groups
    /// reading the same events topic never share them.
    public var itemsTopicSetting: String? = nil
    /// Internal engagement topic, one partition, feeding the co-occurrence / look-alike /
    /// embedding stage (split mode). Key `kafka.engagements_topic`, default `<group id>.engagements`.
    public var engagementsTopicSetting: String? = nil
    public var itemsTopic: String { itemsTopicSetting ?? groupID + ".items" }
    public var engagementsTopic: String { engagementsTopicSetting ?? groupID + ".engagements" }
    /// How the pipeline is laid out: `single` (default: one stage applies everything; one
    /// instance must own every partition) or `split` (a user-keyed stage forwards through the
    /// internal topics to the item-side stages and every store has a changelog, so instances can
    /// share partitions; see docs/scaling.md for what it covers so far). Key `pipeline.mode`.
    public var pipelineMode: PipelineMode = .single
    /// Which stages this instance runs in split mode: `all` (default), `user` or `item`. Key
    /// `pipeline.stages`.
    public var pipelineStages: PipelineStages = .all
    /// Partitions of the events topic when recstream creates it. Key `kafka.events_partitions`, default 8.
    public var eventsPartitions = 8
    /// Partitions of the dead-letter topic when recstream creates it. Key `kafka.dead_letter_partitions`, default 1.
    public var deadLetterPartitions = 1
    /// Replication factor of topics recstream creates on a real cluster. Key `kafka.replication_factor`, default 1.
    public var replicationFactor = 1
    /// Create missing topics at start. Key `kafka.create_topics`, default true.
    public var createTopics = true
    /// Where a partition with no committed state starts: `earliest` or `latest`. Key `kafka.start_from`, default `earliest`.
    public var startFrom: StartPosition = .earliest
    /// This instance's identity in its group's directory (`<group id>.instances`): a restart with
    /// the same identity replaces its own claim, a different identity is another instance. Key
    /// `instance.id`, default `<host name>:<absolute state directory>`.
    public var instanceID: String? = nil
    /// Extra librdkafka properties (security, tuning), passed through verbatim; secrets are
    /// masked in every printout. Keys `kafka.properties.<librdkafka key>`.
    public var kafkaProperties: [String: String] = [:]

    // MARK: http
    /// Query API address, `HOST:PORT`; port 0 picks a free port. Key `http.address`, default `127.0.0.1:8080`.
    public var httpAddress = "127.0.0.1:8080"
    /// Split mode: the base URL other instances forward queries to. Key `http.advertised_url`,
    /// default the bound address (the host name when bound to a wildcard address).
    public var advertisedURL: String? = nil
    /// Largest batch of ids per query. Key `http.max_batch_items`, default 1000.
    public var maxBatchItems = 1000
    /// Largest request body in bytes. Key `http.max_body_bytes`, default 1048576.
    public var maxBodyBytes = 1 << 20
    /// Bearer token required by `/v1/admin/*` routes. Key `http.admin_token` (env
    /// `RECSTREAM_HTTP_ADMIN_TOKEN`); never printed. Unset: admin routes answer only when the API
    /// is bound to a loopback address.
    public var adminToken: String? = nil
    /// Serve `/v1/admin/*` on this separate `HOST:PORT` instead of `http.address`. Key
    /// `http.admin_address`, default unset.
    public var adminAddress: String? = nil
    /// `/readyz` fails while the total lag exceeds this many records. Key `http.ready_max_lag`, default 100000.
    public var readyMaxLag = 100_000

    // MARK: state
    /// State directory (RocksDB). Nil with the embedded broker: a fresh temporary directory,
    /// since the embedded broker's topics do not outlive the process. Key `state.dir`.
    public var stateDir: String? = nil
    /// Milliseconds between atomic commits of state and offsets. Key `state.commit_interval_ms`, default 1000.
    public var commitIntervalMillis: Int64 = 1000
    /// fsync the write-ahead log on every commit. Key `state.sync_writes`, default true.
    public var syncWrites = true
    /// How the store's checksums are verified at start. Key `state.verify`, default background.
    public var verify = StateVerifyMode.background
    /// Memory for the paged state families' entries (item statistics, exposure filters) held as
    /// a cache of the store, all shards together; clean entries beyond it are evicted after each
    /// commit. Key `state.cache_bytes`, default 268435456 (256 MiB). RocksDB's block cache and
    /// memtables come on top and are bounded separately (``blockCacheBytes``,
    /// ``writeBufferBytes``; docs/storage.md).
    public var cacheBytes = 256 << 20
    /// RocksDB's LRU cache of uncompressed table blocks. Key `state.block_cache_bytes`, default
    /// 67108864 (64 MiB).
    public var blockCacheBytes = 64 << 20
    /// RocksDB's memtable size (`write_buffer_size`); up to two exist at once. Key
    /// `state.write_buffer_bytes`, default 67108864 (64 MiB).
    public var writeBufferBytes = 64 << 20
    /// Where `POST /v1/admin/checkpoint` writes copies. Key `state.checkpoint_dir`, default
    /// `<state dir>.checkpoints`.
    public var checkpointDir: String? = nil

    // MARK: ingest
    /// Records per poll. Key `ingest.max_batch`, default 1000.
    public var maxBatch = 1000
    /// Largest record value accepted, in bytes; larger ones go to the dead-letter topic.
    /// Key `ingest.max_record_bytes`, default 65536.
    public var maxRecordBytes = 64 * 1024
    /// Key `ingest.allowed_lateness_ms`, default 600000 (10 minutes). See ShardConfiguration.
    public var allowedLatenessMillis: Int64 = 600_000
    /// Key `ingest.dedup_window_ms`, default 600000 (10 minutes); at least the allowed lateness.
    public var dedupWindowMillis: Int64 = 600_000
    /// An event whose `ts` is more than this ahead of the wall clock goes to the dead-letter topic
    /// (reason `future_ts`) and never moves a watermark. Key `ingest.max_future_ms`, default
    /// 300000 (5 minutes): wider than ordinary client clock drift, and below the allowed lateness,
    /// so an accepted event at the limit cannot make on-time events late.
    public var maxFutureMillis: Int64 = 300_000
    /// `/v1/status` reports `stalled` and `/readyz` fails when no commit completed for this long.
    /// Key `ingest.stall_after_ms`, default 60000: above every bounded wait inside one commit
    /// (the dead-letter time-out, storage retries of a few seconds).
    public var stallAfterMillis: Int64 = 60_000

    // MARK: dead letters
    /// Largest value written to the dead-letter topic; a longer refused record is cut to this
    /// (header `recstream.truncated`, `recstream.original.size` the real size). Key
    /// `dead_letter.max_value_bytes`, default 65536.
    public var deadLetterMaxValueBytes = 64 * 1024
    /// How long one dead-letter record may take to be acknowledged, retries included, before it
    /// is recorded in the state store as undeliverable. Key `dead_letter.timeout_ms`, default 30000.
    public var deadLetterTimeoutMillis: Int64 = 30_000

    // MARK: identities
    /// Ids one dictionary (a shard's users or items, the engagement stage's users or items) may
    /// hold; an event naming a new id beyond it goes to the dead-letter topic (reason
    /// `dictionary_full`). Key `state.max_dictionary_ids`, default 2000000000 (below the 2^31 the
    /// dense indices allow).
    public var maxDictionaryIDs = 2_000_000_000

    // MARK: families
    /// Keep item statistics. Key `item_stats.enabled`, default true.
    public var itemStatisticsEnabled = true
    /// Keep exposure filters. Key `exposure.enabled`, default true.
    public var exposureEnabled = true
    /// Keep ItemCF/Swing and the LastN histories. Key `cooccurrence.enabled`, default true.
    public var cooccurrenceEnabled = true
    /// Keep look-alike seed lists (and run their summaries). Key `lookalike.enabled`, default true.
    public var lookalikeEnabled = true

    /// The engagement families kept; the engagement log whenever co-occurrence (exact recompute)
    /// or embeddings (training) read it.
    public var engagementFamilies: EngagementFamilies {
        let embeddings = (try? embedding().enabled) ?? true
        return EngagementFamilies(cooccurrence: cooccurrenceEnabled, seeds: lookalikeEnabled, log: cooccurrenceEnabled || embeddings)
    }

    /// The switched-off families' settings (`item_stats.enabled`, ...), for routes to name.
    public var disabledFamilySettings: Set<String> {
        var off: Set<String> = []
        if !itemStatisticsEnabled { off.insert("item_stats.enabled") }
        if !exposureEnabled { off.insert("exposure.enabled") }
        if !cooccurrenceEnabled { off.insert("cooccurrence.enabled") }
        if !lookalikeEnabled { off.insert("lookalike.enabled") }
        if !((try? embedding().enabled) ?? true) { off.insert("embedding.enabled") }
        return off
    }

    // MARK: exposure
    /// Days of event time an exposure is remembered (at least; at most one slice more). Key
    /// `exposure.retention_days`, default 30.
    public var exposureRetentionDays = 30
    /// Time slices of the retention. Key `exposure.slice_count`, default 6.
    public var exposureSliceCount = 6
    /// False-positive rate of a whole check. Key `exposure.target_fpr`, default 0.01.
    public var exposureTargetFPR = 0.01
    /// A click on an item not in the user's filter records an exposure too. Key
    /// `exposure.click_implies_exposure`, default false.
    public var clickImpliesExposure = false

    // MARK: cooccurrence
    /// Preset the co-occurrence keys start from: `default`, `flink-ml` or `alink`. Key
    /// `cooccurrence.preset`, default `default`.
    public var cooccurrencePreset = "default"
    /// Individual `cooccurrence.*` settings applied on top of the preset, in any order.
    public var cooccurrenceOverrides: [String: String] = [:]
    /// Individual `embedding.*` settings (see ``embedding()``), in any order.
    public var embeddingOverrides: [String: String] = [:]

    // MARK: lookalike
    /// Individual `lookalike.*` settings applied on top of ``LookalikeConfiguration/default``.
    public var lookalikeOverrides: [String: String] = [:]

    // MARK: stats
    /// Beta priors of the smoothed rates. Keys `stats.priors.<rate>.alpha|beta`.
    public var stats = StatsConfiguration()

    public init() {}

    /// When every stored record is read once so RocksDB verifies its block checksums.
    public enum StateVerifyMode: String, Sendable, CaseIterable {
        /// After the start, in chunks, beside ingest and queries: the start does not wait for it;
        /// damage found makes `/readyz` fail with the command that rebuilds the state.
        case background
        /// Before anything is served: a damaged store is refused at start (the start takes as long
        /// as reading the whole store).
        case blocking
        /// Never as a sweep: damage is found by the reads that reach it.
        case off
    }

    public enum PipelineMode: String, Sendable, CaseIterable {
        case split
        case single
    }

    public enum PipelineStages: String, Sendable, CaseIterable {
        case all
        case user
        case item

        public var runsUserStage: Bool { self != .item }
        public var runsItemStage: Bool { self != .user }
    }

    /// The compacted changelog topic of a stage's stores: `<group id>.<stage>.changelog`, stage
    /// `user`, `item` or `engagement`.
    public func changelogTopic(stage: String) -> String { "\(groupID).\(stage).changelog" }

    /// The internal topics of split mode for an events topic of `eventsPartitions` partitions:
    /// name, partitions, and whether it is a compacted changelog.
    public func internalTopics(eventsPartitions: Int) -> [(name: String, partitions: Int, compacted: Bool)] {
        [
            (itemsTopic, eventsPartitions, false),
            (engagementsTopic, 1, false),
            (changelogTopic(stage: "user"), eventsPartitions, true),
            (changelogTopic(stage: "item"), eventsPartitions, true),
            (changelogTopic(stage: "engagement"), 1, true),
            (directoryTopic, 1, true),
        ]
    }

    /// Split mode: the compacted one-partition topic where instances publish which partitions
    /// they own and where they answer (``OwnershipDirectory``): `<group id>.instances`.
    public var directoryTopic: String { groupID + ".instances" }

    /// The topics the consumer subscribes to.
    public var subscribedTopics: [String] {
        guard pipelineMode == .split else { return [eventsTopic] }
        return (pipelineStages.runsUserStage ? [eventsTopic] : []) + (pipelineStages.runsItemStage ? [itemsTopic, engagementsTopic] : [])
    }

    /// Where a partition without committed state starts.
    public enum StartPosition: String, Sendable, CaseIterable {
        case earliest
        case latest
    }

    /// The co-occurrence configuration: the preset, then the individual overrides.
    public func cooccurrence() throws(ConfigurationError) -> CooccurrenceConfiguration {
        var c: CooccurrenceConfiguration
        switch cooccurrencePreset {
        case "default": c = .default
        case "flink-ml": c = .flinkML
        case "alink": c = .alink
        default: throw ConfigurationError("cooccurrence.preset: expected default, flink-ml or alink, got '\(cooccurrencePreset)'")
        }
        for (key, value) in cooccurrenceOverrides.sorted(by: { $0.key < $1.key }) {
            try CooccurrenceKeys.apply(key, value, to: &c)
        }
        let problems = c.validate()
        guard problems.isEmpty else { throw ConfigurationError(problems.map { "cooccurrence: \($0)" }.joined(separator: "\n")) }
        return c
    }

    public var shardConfiguration: ShardConfiguration {
        ShardConfiguration(
            allowedLatenessMillis: allowedLatenessMillis, dedupWindowMillis: dedupWindowMillis,
            exposure: ExposureFilterConfiguration(
                retentionDays: exposureRetentionDays, sliceCount: exposureSliceCount, targetFalsePositiveRate: exposureTargetFPR),
            clickImpliesExposure: clickImpliesExposure, forwardsItemSide: pipelineMode == .split,
            itemStatisticsEnabled: itemStatisticsEnabled, exposureFiltersEnabled: exposureEnabled)
    }

    /// The HTTP address split into host and port.
    public var httpHostPort: (host: String, port: Int)? { Self.splitHostPort(httpAddress) }

    public static func splitHostPort(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":") else { return nil }
        let host = String(address[..<colon])
        guard !host.isEmpty, let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        return (host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host, port)
    }

    /// Every problem with the configuration, one line each; empty when valid.
    public func validate() -> [String] {
        var problems: [String] = []
        if let brokers {
            for server in brokers.split(separator: ",") where Self.splitHostPort(String(server)) == nil {
                problems.append("kafka.brokers: '\(server)' is not HOST:PORT")
            }
            if brokers.isEmpty { problems.append("kafka.brokers: empty; omit it to use the embedded broker") }
        }
        if groupID.isEmpty { problems.append("kafka.group_id: must not be empty") }
        if eventsTopic.isEmpty || deadLetterTopic.isEmpty { problems.append("kafka topics must not be empty") }
        if eventsTopic == deadLetterTopic { problems.append("kafka.dead_letter_topic must differ from kafka.events_topic") }
        if Set([eventsTopic, deadLetterTopic, itemsTopic, engagementsTopic]).count != 4 {
            problems.append("kafka.items_topic and kafka.engagements_topic must differ from each other and from the events and dead-letter topics")
        }
        if !(1...10_000).contains(eventsPartitions) { problems.append("kafka.events_partitions: 1...10000, got \(eventsPartitions)") }
        if !(1...10_000).contains(deadLetterPartitions) {
            problems.append("kafka.dead_letter_partitions: 1...10000, got \(deadLetterPartitions)")
        }
        if httpHostPort == nil { problems.append("http.address: '\(httpAddress)' is not HOST:PORT") }
        if let adminAddress, Self.splitHostPort(adminAddress) == nil {
            problems.append("http.admin_address: '\(adminAddress)' is not HOST:PORT")
        }
        if let adminToken, adminToken.count < 16 { problems.append("http.admin_token must be at least 16 characters") }
        if maxBatchItems < 1 { problems.append("http.max_batch_items must be >= 1") }
        if maxBodyBytes < 1024 { problems.append("http.max_body_bytes must be >= 1024") }
        if commitIntervalMillis < 10 { problems.append("state.commit_interval_ms must be >= 10, got \(commitIntervalMillis)") }
        if !(1...100_000).contains(maxBatch) { problems.append("ingest.max_batch: 1...100000, got \(maxBatch)") }
        if maxRecordBytes < 256 { problems.append("ingest.max_record_bytes must be >= 256") }
        if !(1024...(900 * 1024)).contains(deadLetterMaxValueBytes) {
            problems.append("dead_letter.max_value_bytes: 1024...921600 (below Kafka's 1 MB record limit), got \(deadLetterMaxValueBytes)")
        }
        if deadLetterTimeoutMillis < 100 { problems.append("dead_letter.timeout_ms must be >= 100, got \(deadLetterTimeoutMillis)") }
        if stallAfterMillis < commitIntervalMillis {
            problems.append("ingest.stall_after_ms (\(stallAfterMillis)) must be at least state.commit_interval_ms (\(commitIntervalMillis))")
        }
        if !(1...2_000_000_000).contains(maxDictionaryIDs) { problems.append("state.max_dictionary_ids: 1...2000000000, got \(maxDictionaryIDs)") }
        problems += shardConfiguration.validate().map { "ingest: \($0)" }
        do { _ = try cooccurrence() } catch { problems.append(error.description) }
        do { _ = try embedding() } catch { problems.append(error.description) }
        do { _ = try lookalike() } catch { problems.append(error.description) }
        problems += stats.validate()
        return problems
    }

    /// librdkafka keys whose values are never printed.
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k.hasSuffix(".key.pem") || k == "ssl.key.pem"
            || k.contains("sasl.oauthbearer.config")
    }

    /// One `key = value` line per setting, secrets masked: what `run` prints at start.
    public var printableLines: [String] {
        ConfigurationKeys.all.map { key in "\(key.name) = \(key.read(self))" }
            + kafkaProperties.keys.sorted().map { k in
                "kafka.properties.\(k) = \(Self.isSecret(k) ? "********" : kafkaProperties[k]!)"
            }
    }
}
