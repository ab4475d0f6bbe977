import ArgumentParser
import Foundation
import NIOHTTP1
import Logging
import RecstreamCore
import RecstreamRuntime

/// `recstream train`: one embedding training job now, on a running instance (admin API) or on a
/// stopped instance's state directory (with a live progress bar).
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train, publish and serve a new embedding model version now (full refresh or incremental update).",
        discussion: """
            Without --state-dir, asks the running instance at --api (POST /v1/admin/train; needs the admin \
            token off loopback) and prints what it published. With --state-dir, trains on that directory \
            of a stopped instance (the directory is locked while one runs), printing a progress bar with \
            the loss and examples/s; the next `recstream run` serves the new version. \
            --json prints the training report as JSON for scripts.

            full: from the previous full model, over the whole retained window; a new major version.
            incremental: from the served model, over the engagements committed since it; a new minor version.

            Publish gate: a full refresh (or a first model) with fewer than embedding.min_examples training \
            examples publishes nothing; a version whose held-out recall@50 is more than embedding.max_regression \
            below the served model's is written but not served. --force serves it anyway.
            """)

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case full
        case incremental
    }

    @Option(help: "full or incremental.")
    var mode: Mode = .incremental

    @Flag(help: "Serve the new version even when its held-out recall is more than embedding.max_regression below the served model's.")
    var force = false

    @OptionGroup var api: APIOptions

    @Option(help: "Train on this state directory of a stopped instance instead of asking --api.")
    var stateDir: String?

    @Option(help: "Config file (YAML or JSON), for --state-dir (embedding.* keys).")
    var config: String?

    @Option(name: .customLong("set"), help: "Set a configuration key, for --state-dir (repeatable).")
    var settings: [String] = []

    func run() async throws {
        try await reportingFailures {
            let kind: EmbeddingModelKind = mode == .full ? .full : .incremental
            let data: Data
            if let stateDir {
                var options = try RunOptions.parse(["--state-dir", stateDir] + (config.map { ["--config", $0] } ?? []) + settings.flatMap { ["--set", $0] })
                options.logLevel = .warning
                let configuration = try options.loadConfiguration()
                let logger = LoggingSetup.bootstrap(level: .warning)
                let showProgress = !api.json
                let report = try await Runtime.trainEmbeddings(
                    stateDirectory: stateDir, configuration: configuration, kind: kind, force: force, logger: logger
                ) { p in
                    guard showProgress, p.batchesApplied % 20 == 0 || p.batchesApplied == p.totalBatches else { return }
                    // "[#####.....]  52%  1,040/2,000  512,300/s": batches applied, then examples/s.
                    Terminal.status(
                        "\(p.kind): " + Terminal.bar(done: p.batchesApplied, total: p.totalBatches, rate: p.examplesPerSecond)
                            + " examples" + String(format: "  loss %.4f", p.recentLoss))
                }
                if showProgress { Terminal.endStatus() }
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys]
                data = try encoder.encode(report)
            } else {
                let body = try JSONSerialization.data(withJSONObject: ["mode": mode.rawValue, "force": force] as [String: Any])
                let object = try await api.client.json("/v1/admin/train", method: .POST, body: body)
                data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            }
            if api.json {
                Terminal.out(String(decoding: data, as: UTF8.self))
                return
            }
            Terminal.out(Self.render(try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]))
        }
    }

    /// One readable paragraph from a training report's JSON.
    static func render(_ r: [String: Any]) -> String {
        guard (r["published"] as? Bool) == true, let m = r["manifest"] as? [String: Any] else {
            return r["message"] as? String ?? "nothing published"
        }
        return """
            \(r["message"] as? String ?? "published model \(m["version"] ?? "?")")
              model \(m["version"] ?? "?") (\(m["kind"] ?? "?"), parent \(m["parent"] as? String ?? "none"))
              engagements read \(StatusRendering.int(r["engagements_read"])), used \(StatusRendering.int(m["engagements_used"])); \
            \(StatusRendering.int(m["examples"])) positives × \(StatusRendering.int(m["epochs"])) epochs
              loss \(String(format: "%.4f", m["first_epoch_loss"] as? Double ?? 0)) → \(String(format: "%.4f", m["last_epoch_loss"] as? Double ?? 0)); \
            \(Terminal.grouped(Int(r["examples_per_second"] as? Double ?? 0))) examples/s
              read \(String(format: "%.2f", r["read_seconds"] as? Double ?? 0)) s, train \(String(format: "%.2f", r["train_seconds"] as? Double ?? 0)) s, \
            publish + index \(String(format: "%.2f", r["publish_seconds"] as? Double ?? 0)) s
              \(StatusRendering.int(m["users_with_vectors"])) users and \(StatusRendering.int(m["items_with_vectors"])) items with vectors; \
            model.bin \(StatusRendering.int(m["bytes"])) bytes, \(m["checksum"] ?? "")
            """
    }
}
