import Foundation
import RecstreamBench
import RecstreamCore
import RecstreamRuntime
import RecstreamTesting
import Testing
import Yams

/// What can be checked about Deploy/ without a container engine.
@Suite("Deploy files", .serialized)
struct DeployTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func yamlDocuments(_ relative: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    static func servedPaths() throws -> Set<String> {
        let spec = try #require(try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("Schemas/openapi.yaml"), encoding: .utf8)) as? [String: Any])
        return Set((spec["paths"] as? [String: Any] ?? [:]).keys)
    }

    @Test func everyYAMLFileParses() throws {
        let files = FileManager.default.enumerator(atPath: Self.root.appendingPathComponent("Deploy").path)?
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") } ?? []
        #expect(files.count >= 8)
        for file in files {
            let docs = try Self.yamlDocuments("Deploy/" + file)
            #expect(!docs.isEmpty, "\(file) has no YAML mapping")
        }
    }

    @Test func composeRunsKafkaTwoInstancesPrometheusAndGrafana() throws {
        let compose = try #require(try Self.yamlDocuments("Deploy/docker-compose.yml").first)
        let services = try #require(compose["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["kafka", "recstream-1", "recstream-2", "prometheus", "grafana"])
        let kafka = try #require(services["kafka"]?["environment"] as? [String: Any])
        #expect((kafka["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true, "Kafka runs in KRaft mode")
        let config = try #require(try Self.yamlDocuments("Deploy/recstream.yaml").first)
        let address = try #require((config["http"] as? [String: Any])?["address"] as? String)
        for name in ["recstream-1", "recstream-2"] {
            let ports = services[name]?["ports"] as? [String] ?? []
            #expect(ports.contains { $0.hasSuffix(":\(address.split(separator: ":").last!)") }, "\(name) publishes the API port")
        }
        let prometheus = try #require(try Self.yamlDocuments("Deploy/prometheus/prometheus.yml").first)
        let scrape = try #require((prometheus["scrape_configs"] as? [[String: Any]])?.first)
        #expect(scrape["metrics_path"] as? String == "/metrics")
        let targets = (scrape["static_configs"] as? [[String: Any]])?.first?["targets"] as? [String] ?? []
        #expect(Set(targets) == ["recstream-1:8080", "recstream-2:8080"])
    }

    /// Several instances of one group must run split: single mode refuses to run beside another
    /// instance, and would see part of the input if it did not. The compose file must not fall
    /// back to a known admin token.
    @Test func shippedSetUpsAreSupported() throws {
        let compose = try String(contentsOf: Self.root.appendingPathComponent("Deploy/docker-compose.yml"), encoding: .utf8)
        let fallbacks = compose.split(separator: "\n").filter { $0.contains("RECSTREAM_HTTP_ADMIN_TOKEN:") && !$0.contains("${RECSTREAM_HTTP_ADMIN_TOKEN:-}") }
        #expect(fallbacks.isEmpty, "the admin token falls back to a default: \(fallbacks)")
        let config = try #require(try Self.yamlDocuments("Deploy/recstream.yaml").first)
        #expect((config["pipeline"] as? [String: Any])?["mode"] as? String == "split")
        let configMap = try #require(try Self.yamlDocuments("Deploy/kubernetes/configmap.yaml").first)
        let embedded = try #require(try Yams.load(yaml: (configMap["data"] as? [String: String])?["recstream.yaml"] ?? "") as? [String: Any])
        #expect((embedded["pipeline"] as? [String: Any])?["mode"] as? String == "split")
        let statefulSet = try #require(try Self.yamlDocuments("Deploy/kubernetes/statefulset.yaml").first)
        let replicas = (statefulSet["spec"] as? [String: Any])?["replicas"] as? Int ?? 1
        #expect(replicas > 1)
        // The files as recstream itself reads them.
        let loaded = try ConfigurationLoader.load(file: Self.root.appendingPathComponent("Deploy/recstream.yaml").path, environment: [:], overrides: [])
        #expect(loaded.pipelineMode == .split)
    }

    @Test func kubernetesManifestsHaveWhatTheyMust() throws {
        let paths = try Self.servedPaths()
        let statefulSet = try #require(try Self.yamlDocuments("Deploy/kubernetes/statefulset.yaml").first)
        #expect(statefulSet["kind"] as? String == "StatefulSet")
        let spec = try #require(statefulSet["spec"] as? [String: Any])
        #expect((spec["volumeClaimTemplates"] as? [Any])?.isEmpty == false, "state lives on a persistent volume")
        let container = try #require(
            (((spec["template"] as? [String: Any])?["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        let port = try #require((container["ports"] as? [[String: Any]])?.first?["containerPort"] as? Int)
        for probe in ["livenessProbe", "readinessProbe"] {
            let path = try #require(((container[probe] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String)
            #expect(paths.contains(path), "\(probe) path \(path) is served")
        }
        #expect(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/readyz")
        #expect((container["resources"] as? [String: Any])?["requests"] != nil)
        let configMap = try #require(try Self.yamlDocuments("Deploy/kubernetes/configmap.yaml").first)
        let embedded = try #require((configMap["data"] as? [String: String])?["recstream.yaml"])
        let config = try #require(try Yams.load(yaml: embedded) as? [String: Any])
        let address = try #require((config["http"] as? [String: Any])?["address"] as? String)
        #expect(address.hasSuffix(":\(port)"), "the configured API port is the container port")
        let services = try Self.yamlDocuments("Deploy/kubernetes/service.yaml")
        #expect(services.count == 2)
        for service in services {
            #expect(service["kind"] as? String == "Service")
            let servicePorts = (service["spec"] as? [String: Any])?["ports"] as? [[String: Any]] ?? []
            #expect(servicePorts.first?["targetPort"] as? String == "http")
        }
        let pdb = try #require(try Self.yamlDocuments("Deploy/kubernetes/poddisruptionbudget.yaml").first)
        #expect(pdb["kind"] as? String == "PodDisruptionBudget")
        #expect((pdb["spec"] as? [String: Any])?["maxUnavailable"] as? Int == 1)
    }

    @Test func systemdUnitRunsRecstreamWithAStopTimeout() throws {
        let unit = try String(contentsOf: Self.root.appendingPathComponent("Deploy/systemd/recstream.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/recstream run"))
        #expect(unit.contains("KillSignal=SIGTERM"))
        #expect(unit.contains("TimeoutStopSec="))
        #expect(unit.contains("[Install]"))
    }

    /// Every metric the Grafana dashboard queries is one a running instance exports.
    @Test(.timeLimit(.minutes(4)), .processSlot)
    func dashboardQueriesNameExportedMetrics() async throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("Deploy/grafana/dashboards/recstream.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let expressions = (dashboard["panels"] as? [[String: Any]] ?? []).flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        #expect(expressions.count >= 10)
        func metricNames(_ text: String) -> Set<String> {
            let regex = try! NSRegularExpression(pattern: "recstream_[a-z_]+")
            let names = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
            return Set(names.map { name in
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
                return name
            })
        }
        // The Prometheus alert rules shipped beside it too.
        let alerts = try #require(try Self.yamlDocuments("Deploy/prometheus/alerts.yml").first)
        let rules = ((alerts["groups"] as? [[String: Any]]) ?? []).flatMap { ($0["rules"] as? [[String: Any]]) ?? [] }
        #expect(rules.count >= 4)
        let alertExpressions = rules.compactMap { $0["expr"] as? String }
        let queried = (expressions + alertExpressions).reduce(into: Set<String>()) { $0.formUnion(metricNames($1)) }

        let run = try RecstreamProcess(["run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=200"])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")
        let producer = try TestProducer(bootstrap)
        try producer.send(Event(eventID: "e1", type: .click, userID: "u1", itemID: "i1", time: EventTime(millis: 1_000)))
        try producer.sendRaw(Array("not json".utf8))
        try producer.flush()
        try await awaitConsumed(api, count: 2)
        _ = try await http(api + "/v1/items/i1/stats")
        var exported = Set<String>()
        try await eventually(within: .seconds(60), "the gauges to be published") {
            exported = metricNames(try await http(api + "/metrics").text)
            return exported.contains("recstream_state_entries") && exported.contains("recstream_consumer_partition_lag_records")
        }
        let missing = queried.subtracting(exported)
        #expect(missing.isEmpty, "the dashboard queries metrics the server does not export: \(missing.sorted())")
    }
}

@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    /// The committed libFuzzer corpus replays through the decoders and the encoders' round trip
    /// without a crash (the replayer traps on any round-trip mismatch).
    @Test(.timeLimit(.minutes(4)), .processSlot)
    func committedCorpusReplays() async throws {
        let corpus = DeployTests.root.appendingPathComponent("Fuzz/corpus").path
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(files.count > 100)
        let binary = URL(fileURLWithPath: RecstreamProcess.binaryPath).deletingLastPathComponent().appendingPathComponent("recstream-fuzz").path
        let replay = try ChildProcess([binary, corpus])
        #expect(try await replay.waitForExit(within: .seconds(180)) == 0)
        #expect(replay.lines.contains("replayed \(files.count) inputs"))
    }
}
