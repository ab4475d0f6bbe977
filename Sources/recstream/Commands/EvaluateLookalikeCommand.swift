import ArgumentParser
import RecstreamBench
import RecstreamCore

struct EvaluateLookalikeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookalike",
        abstract:
            "AUC of the look-alike score against cosine-to-mean-seed and popularity baselines (docs/evaluation.md).",
        discussion: """
            Generates the stream, holds out the latest 10% of each item's engagers, builds seed lists and \
            summaries from the rest and prints the setup and the AUC tables as Markdown. With the defaults the \
            output is the table in docs/evaluation.md (about 6 s in a release build).
            """)

    @Option(help: "Generated events.")
    var events = 10_000_000

    @Option(help: "Generator seed.")
    var seed: UInt64 = 42

    @Option(help: "Temperature of the local attention.")
    var localTemperature = LookalikeConfiguration.default.localTemperature

    @Option(help: "Weight of the global embedding in the score.")
    var beta = LookalikeConfiguration.default.beta

    @Option(help: "Noise of the planted community vectors.")
    var noise = 1.0

    func run() async throws {
        var options = LookalikeEvaluation.Options()
        options.events = events
        options.seed = seed
        options.configuration.localTemperature = localTemperature
        options.configuration.beta = beta
        options.embeddings = [.community(noise: noise), .randomIndexing, .trained]
        let problems = options.configuration.validate()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        for line in LookalikeEvaluation.run(options, progress: { Terminal.err($0) }).lines { Terminal.out(line) }
    }
}
