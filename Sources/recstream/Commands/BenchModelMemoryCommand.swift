import ArgumentParser
import Foundation
import RecstreamBench
import RecstreamCore
import RecstreamRuntime

/// `recstream bench model-memory`: the resident memory of a served embedding model, format 1
/// decoded into the heap against format 2 mapped from its file; rewrites its section of
/// docs/benchmarks.md.
struct BenchModelMemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-memory",
        abstract: "Resident memory of a served embedding model: decoded into the heap (format 1) against mapped (format 2).",
        discussion: """
            Trains one model on synthetic engagements (--users and --items with a vector, --cold-users below the \
            threshold), publishes it in format 1 and in format 2, then in a fresh process per format loads it \
            through the model store and measures resident memory (anonymous and file-backed) after loading, \
            after --queries retrievals and at the peak of an incremental job trained from it. Rewrites the \
            section "\(ModelMemoryBenchmark.heading)" of --output. Build with -c release.
            """)

    @Option(help: "Users with a vector.")
    var users = 200_000

    @Option(help: "Items engaged (about 98% get a vector).")
    var items = 100_000

    @Option(help: "Users below the engagement threshold (fallback lists).")
    var coldUsers = 20_000

    @Option(help: "Retrievals and item-vector reads after loading.")
    var queries = 2_000

    @Option(help: "Markdown report whose section is rewritten.")
    var output = "docs/benchmarks.md"

    @Option(help: .hidden)
    var measure: String? = nil

    func run() async throws {
        try await reportingFailures {
            var options = ModelMemoryBenchmark.Options()
            options.users = users
            options.items = items
            options.coldUsers = coldUsers
            options.queries = queries
            if let measure {
                // The child: one format, one fresh process.
                let m = try ModelMemoryBenchmark.measure(directory: measure, options: options)
                Terminal.out("measurement: " + String(decoding: try JSONEncoder().encode(m), as: UTF8.self))
                return
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-mm-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let prepared = try ModelMemoryBenchmark.prepare(directory: directory, options: options) {
                Terminal.err("bench model-memory: \($0)")
            }
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            func child(_ store: String) async throws -> ModelMemoryBenchmark.Measurement {
                Terminal.err("bench model-memory: measuring \(store) in a fresh process")
                let process = try ChildProcess([
                    binary, "bench", "model-memory", "--measure", store, "--users", "\(users)", "--items", "\(items)",
                    "--cold-users", "\(coldUsers)", "--queries", "\(queries)",
                ])
                defer { process.terminate() }
                let line = try await process.value(after: "measurement:", within: .seconds(1_800))
                return try JSONDecoder().decode(ModelMemoryBenchmark.Measurement.self, from: Data(line.utf8))
            }
            let decoded = try await child(prepared.format1)
            let mapped = try await child(prepared.format2)
            var command = "recstream bench model-memory"
            if users != 200_000 { command += " --users \(users)" }
            if items != 100_000 { command += " --items \(items)" }
            if coldUsers != 20_000 { command += " --cold-users \(coldUsers)" }
            if queries != 2_000 { command += " --queries \(queries)" }
            let section = ModelMemoryBenchmark.section(
                command: command, options: options, prepared: prepared, decoded: decoded, mapped: mapped)
            let existing = try? String(contentsOfFile: output, encoding: .utf8)
            try BenchmarkReport.replacingSection(ModelMemoryBenchmark.heading, with: section, in: existing)
                .write(toFile: output, atomically: true, encoding: .utf8)
            Terminal.out(section)
            Terminal.err("wrote the section to \(output)")
        }
    }
}
