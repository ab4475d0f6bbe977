import Foundation
import RecstreamCore
import RecstreamRuntime
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsAreValid() {
        #expect(RecstreamConfiguration().validate().isEmpty)
    }

    @Test func fileThenEnvironmentThenFlagsWin() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-config-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
            kafka:
              brokers: file-broker:9092
              group_id: from-file
              properties:
                sasl.password: hunter2
            http:
              address: 0.0.0.0:9000
            stats:
              priors:
                ctr: {alpha: 2, beta: 20}
            """.write(to: file, atomically: true, encoding: .utf8)
        let config = try ConfigurationLoader.load(
            file: file.path,
            environment: ["RECSTREAM_KAFKA_GROUP_ID": "from-env", "RECSTREAM_HTTP_ADDRESS": "127.0.0.1:1", "RECSTREAM_KAFKA_PROPERTY_SASL_USERNAME": "svc"],
            overrides: [("http.address", "127.0.0.1:0")])
        #expect(config.brokers == "file-broker:9092")
        #expect(config.groupID == "from-env")
        #expect(config.httpAddress == "127.0.0.1:0")
        #expect(config.kafkaProperties["sasl.username"] == "svc")
        #expect(config.stats.prior(.ctr) == RatePrior(alpha: 2, beta: 20))
        let printed = config.printableLines.joined(separator: "\n")
        #expect(!printed.contains("hunter2"))
        #expect(printed.contains("kafka.properties.sasl.password = ********"))
    }

    @Test(arguments: [
        ("ingest.dedup_window_ms", "1000", "dedup window"),
        ("http.address", "nowhere", "http.address"),
        ("kafka.brokers", "host-without-port", "kafka.brokers"),
        ("state.commit_interval_ms", "-5", "state.commit_interval_ms"),
        ("stats.priors.ctr.alpha", "0", "alpha and beta must be positive"),
        ("no.such.key", "1", "unknown setting"),
        ("kafka.start_from", "middle", "earliest or latest"),
    ])
    func invalidSettingsAreRefusedWithTheirName(key: String, value: String, message: String) {
        #expect {
            _ = try ConfigurationLoader.load(file: nil, environment: [:], overrides: [(key, value)])
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func aMissingOrBrokenFileIsAClearError() throws {
        #expect { _ = try ConfigurationLoader.load(file: "/nonexistent/recstream.yaml", environment: [:], overrides: []) } throws: {
            "\($0)".contains("cannot read config file")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-bad-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "kafka: [1, 2".write(to: file, atomically: true, encoding: .utf8)
        #expect { _ = try ConfigurationLoader.load(file: file.path, environment: [:], overrides: []) } throws: {
            "\($0)".contains("not valid YAML")
        }
    }

    /// Every key is documented in docs/configuration.md, so the page cannot drift.
    @Test func everyKeyIsDocumented() throws {
        let doc = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for key in ConfigurationKeys.all where !key.name.hasPrefix("stats.priors.") {
            #expect(doc.contains("`\(key.name)`"), "\(key.name) is not in docs/configuration.md")
        }
    }
}
