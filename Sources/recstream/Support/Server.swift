import Foundation
import UnixSignals
import Logging
import Metrics
import Prometheus
import RecstreamCore
import RecstreamKafka
import RecstreamQueryAPI
import RecstreamRuntime
import ServiceLifecycle

/// Wires one instance: broker (embedded or not), topics, state directory, runtime, HTTP server,
/// and runs them as one service group until SIGINT/SIGTERM. Shutdown runs in reverse: the HTTP
/// server stops first, ingest ends with a final commit and leaves the group.
struct Server {
    let configuration: RecstreamConfiguration
    let logger: Logger
    /// Called once the API is bound, with its base URL (demo uses it).
    var onReady: @Sendable (_ apiURL: String, _ bootstrap: String) async -> Void = { _, _ in }
    /// Extra services to run in the group (demo traffic).
    var extraServices: [any Service] = []

    func run() async throws {
        var broker: EmbeddedBroker? = nil
        let bootstrap: String
        if let brokers = configuration.brokers {
            bootstrap = brokers
            Terminal.out("bootstrap: \(bootstrap)")
            if configuration.createTopics { try ensureTopics(bootstrap: brokers) }
        } else {
            let embedded = try EmbeddedBroker()
            try embedded.createTopic(configuration.eventsTopic, partitions: configuration.eventsPartitions)
            try embedded.createTopic(configuration.deadLetterTopic, partitions: configuration.deadLetterPartitions)
            for topic in configuration.internalTopics(eventsPartitions: configuration.eventsPartitions)
            where configuration.pipelineMode == .split || topic.name == configuration.directoryTopic {
                try embedded.createTopic(topic.name, partitions: topic.partitions)
            }
            broker = embedded
            bootstrap = embedded.bootstrapServers
            Terminal.out("bootstrap: \(bootstrap)")
        }
        defer { broker?.shutdown() }

        let stateDir: String
        if let dir = configuration.stateDir {
            stateDir = dir
        } else if broker != nil {
            stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-state-\(UUID().uuidString)").path
        } else {
            stateDir = "recstream-state"
        }
        if logger.logLevel <= .info {
            Terminal.err("configuration (secrets masked):\n" + configuration.printableLines.map { "  " + $0 }.joined(separator: "\n"))
        }
        logger.info("state directory", metadata: ["path": "\(stateDir)"])

        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Query latencies are sub-millisecond; the default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        let runtime = try Runtime(
            configuration: configuration, bootstrapServers: bootstrap, stateDirectory: stateDir, version: Recstream.version,
            metricsFactory: factory, logger: logger)
        defer { runtime.close() }

        let (host, port) = configuration.httpHostPort!
        func api(host: String, port: Int) -> QueryAPI {
            var apiConfiguration = QueryAPIConfiguration(
                host: host, port: port, maxBatchItems: configuration.maxBatchItems, maxBodyBytes: configuration.maxBodyBytes,
                readyMaxLag: Int64(configuration.readyMaxLag), adminToken: configuration.adminToken)
            apiConfiguration.disabledFamilies = configuration.disabledFamilySettings
            return QueryAPI(
                configuration: apiConfiguration,
                queries: runtime.engine, metricsRegistry: registry, metricsFactory: factory, admin: runtime,
                embeddings: runtime.embeddings,
                lookalike: runtime.lookalike, routing: runtime.directory)
        }
        let onReady = self.onReady
        let separateAdmin = configuration.adminAddress.flatMap(RecstreamConfiguration.splitHostPort)
        let app = api(host: host, port: port).buildApplication(routes: separateAdmin == nil ? .all : .read, logger: logger) {
            boundHost, boundPort in
            let url = "http://\(boundHost):\(boundPort)"
            // Other instances forward queries here: a wildcard bind is advertised by host name.
            runtime.groupDirectory.setSelfURL(
                configuration.advertisedURL
                    ?? (["0.0.0.0", "::"].contains(boundHost) ? "http://\(ProcessInfo.processInfo.hostName):\(boundPort)" : url))
            Terminal.out("api: \(url)")
            await onReady(url, bootstrap)
        }
        var adminServices: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let (adminHost, adminPort) = separateAdmin {
            let adminApp = api(host: adminHost, port: adminPort).buildApplication(routes: .admin, logger: logger) { h, p in
                Terminal.out("admin: http://\(h):\(p)")
            }
            adminServices.append(.init(service: adminApp))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: runtime.ingest), .init(service: runtime.recomputeService),
                .init(service: runtime.lookalikeSummaryService),
            ] + [.init(service: app)] + adminServices
                // Last, so it is the first to hear of a shutdown and stops any training job (admin-requested ones too)
                // before the HTTP server waits for its requests.
                + [.init(service: runtime.embeddingService)]
                + extraServices.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A graceful stop that hangs (a broker that never answers) escalates to cancellation.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        let forceExit = Task.detached { await exitOnSecondSignal() }
        defer { forceExit.cancel() }
        try await ServiceGroup(configuration: groupConfiguration).run()
    }

    /// Creates the events and dead-letter topics when the cluster lacks them. Existing topics
    /// are left as they are (their partition count is the operator's choice).
    private func ensureTopics(bootstrap: String) throws {
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: bootstrap, configuration.kafkaProperties))
        var missing: [TopicSpec] = []
        for (name, partitions) in [
            (configuration.eventsTopic, configuration.eventsPartitions),
            (configuration.deadLetterTopic, configuration.deadLetterPartitions),
        ] {
            if let existing = try admin.partitionCount(of: name, timeout: .seconds(15)) {
                logger.info("topic exists", metadata: ["topic": "\(name)", "partitions": "\(existing)"])
            } else {
                missing.append(TopicSpec(name: name, partitions: partitions, replicationFactor: configuration.replicationFactor))
            }
        }
        guard !missing.isEmpty else { return }
        logger.notice("creating topics", metadata: ["topics": "\(missing.map(\.name))"])
        try admin.createTopics(missing, timeout: .seconds(30))
    }
}

/// The second SIGINT/SIGTERM exits at once (status 130), for an operator who does not want to
/// wait for the final commit; the first one starts the service group's graceful shutdown.
func exitOnSecondSignal() async {
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    var seen = 0
    for await signal in signals {
        seen += 1
        if seen >= 2 {
            Terminal.err("recstream: second \(signal); exiting without the final commit")
            exit(130)
        }
    }
}
