import ArgumentParser
import Foundation
import RecstreamBench
import RecstreamCore

/// `recstream bench embeddings`: training throughput, full-refresh and incremental times, and
/// retrieval latency, printed as the "## Embeddings" section of docs/benchmarks.md.
struct BenchEmbeddingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embeddings",
        abstract: "Embedding training throughput, full refresh and incremental times, retrieval p99; prints a markdown section.",
        discussion: """
            On the co-occurrence benchmark's standard stream: a full refresh from nothing on --engagements \
            engagements for each --threads count, an incremental update on the next --incremental \
            engagements, then top-100 retrieval latency through the IVF index and by brute force. Build \
            with -c release.
            """)

    @Option(help: "Engagements of the full refresh.")
    var engagements = 1_000_000

    @Option(help: "Engagements of the incremental update.")
    var incremental = 50_000

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @Option(help: "Retrieval queries.")
    var queries = 2_000

    @Option(help: "Stream seed.")
    var seed: UInt64 = 7

    func validate() throws {
        guard engagements > 0, incremental > 0, queries > 0, !threads.isEmpty, threads.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("engagements, incremental, queries and threads must be positive")
        }
    }

    func run() async throws {
        let lines = EmbeddingBenchmark.report(
            engagements: engagements, incrementalEngagements: incremental, threads: threads, queries: queries, seed: seed
        ) { Terminal.err("bench embeddings: \($0)") }
        var command = "recstream bench embeddings"
        if engagements != 1_000_000 { command += " --engagements \(engagements)" }
        if incremental != 50_000 { command += " --incremental \(incremental)" }
        if threads != [1, 2] { command += " --threads " + threads.map(String.init).joined(separator: " ") }
        Terminal.out("## Embeddings")
        Terminal.out("")
        Terminal.out("Reproduce: `swift build -c release && .build/release/\(command)`")
        Terminal.out("")
        for line in lines { Terminal.out("- " + line) }
    }
}
