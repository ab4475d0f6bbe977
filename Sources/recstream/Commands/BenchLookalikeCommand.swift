import ArgumentParser
import RecstreamBench
import RecstreamRuntime

struct BenchLookalikeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookalike",
        abstract:
            "Look-alike: seed-list updates/s, summary job time per 10,000 changed items, score latency for 1,000 items.",
        discussion: """
            Prints a Markdown section for docs/benchmarks.md: the core figures (seed lists, summary builder, \
            scorer, brute-force expansion; one thread, CPU time) and the same work through the runtime \
            (InstanceState, the summary job, LookalikeEngine: the server side of POST /v1/lookalike/score). \
            Use a release build.
            """)

    @Option(help: "Engagements applied to the core seed lists.")
    var engagements = 3_000_000

    @Option(help: "Items with full seed lists for the runtime summary job.")
    var items = 2_000

    @Option(help: "Score requests timed (1,000 items each).")
    var requests = 2_000

    func run() async throws {
        Terminal.out("## Look-alike")
        Terminal.out("")
        Terminal.out(
            "`swift build -c release && .build/release/recstream bench lookalike` (one thread per measurement).")
        Terminal.out("")
        var core = LookalikeBenchmark.Options()
        core.engagements = engagements
        core.requests = requests
        Terminal.out("Core (`LookalikeBenchmark`):")
        Terminal.out("")
        for line in LookalikeBenchmark.report(core) { Terminal.out("- " + line) }
        Terminal.out("")
        var runtime = LookalikeRuntimeBenchmark.Options()
        runtime.items = items
        runtime.requests = requests
        for line in try await LookalikeRuntimeBenchmark.report(runtime) { Terminal.out(line) }
    }
}
