import ArgumentParser
import RecstreamBench
import RecstreamCore

/// `recstream evaluate embeddings`: recall@50 of full refresh, stale full + incrementals and
/// incrementals from a cold start against popularity and ItemCF, and IVF against brute force.
struct EvaluateEmbeddingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embeddings",
        abstract: "Recall@50 of the embedding job's variants vs popularity and ItemCF; IVF recall@100 vs brute force.",
        discussion: """
            Generates a seeded stream with planted communities over --days days, trains on all but the last \
            day and measures recall@50 on the held-out last day (items the user was exposed to during \
            training dropped). Prints the markdown table of docs/evaluation.md. Build with -c release: a \
            debug build is 10 to 50 times slower.
            """)

    @Option(help: "Generated events (about 9% are engagements).")
    var events = 4_000_000

    @Option(help: "Days of event time; the last one is held out.")
    var days = 8

    @Option(help: "Days the stale full refresh of variant (b) covers.")
    var staleDays = 4

    @Option(help: "Users.")
    var users = 20_000

    @Option(help: "Items.")
    var items = 10_000

    @Option(help: "Generator seed.")
    var seed: UInt64 = 42

    @Option(help: "Training threads.")
    var threads = 1

    @Option(help: "IVF lists scanned per query (nprobe).")
    var nprobe = EmbeddingConfiguration.default.ivfProbes

    @Option(help: "Embedding temperature τ (default: the configuration's).")
    var temperature: Float?

    @Option(help: "Adagrad learning rate (default: the configuration's).")
    var learningRate: Float?

    @Option(help: "Epochs of a full refresh (default: the configuration's).")
    var epochs: Int?

    @Option(help: "Epochs of an incremental update (default: the configuration's).")
    var incrementalEpochs: Int?

    @Option(help: "Random negatives per batch (default: the configuration's).")
    var randomNegatives: Int?

    @Option(help: "Positives per mini-batch (default: the configuration's).")
    var batchSize: Int?

    @Option(help: "Embedding dimension (default: the configuration's).")
    var dimension: Int?

    func validate() throws {
        guard days >= 2, staleDays >= 1, staleDays < days - 1 || days == 2 else {
            throw ValidationError("need days >= 2 and 1 <= stale-days < days - 1")
        }
        guard events > 0, users > 0, items > 0, threads >= 1, nprobe >= 1 else {
            throw ValidationError("events, users, items, threads and nprobe must be positive")
        }
    }

    func run() async throws {
        var settings = EmbeddingEvaluation.Settings()
        settings.generator.events = events
        settings.generator.users = users
        settings.generator.items = items
        settings.generator.seed = seed
        settings.days = days
        settings.staleDays = staleDays
        settings.threads = threads
        settings.embedding.ivfProbes = nprobe
        if let temperature { settings.embedding.temperature = temperature }
        if let learningRate { settings.embedding.learningRate = learningRate }
        if let epochs { settings.embedding.epochs = epochs }
        if let incrementalEpochs { settings.embedding.incrementalEpochs = incrementalEpochs }
        if let randomNegatives { settings.embedding.randomNegatives = randomNegatives }
        if let batchSize { settings.embedding.batchSize = batchSize }
        if let dimension { settings.embedding.dimension = dimension }
        let problems = settings.embedding.validate()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        let table = EmbeddingEvaluation.run(settings) { Terminal.err("evaluate: \($0)") }
        for line in table.lines { Terminal.out(line) }
    }
}
