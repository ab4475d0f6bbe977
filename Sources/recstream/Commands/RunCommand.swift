import ArgumentParser
import RecstreamRuntime

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline and the query API until SIGINT/SIGTERM.",
        discussion: """
            Without --brokers, starts the embedded Kafka-protocol broker, creates the events topic (8 partitions) \
            and the dead-letter topic, and prints its address. Prints `bootstrap: HOST:PORT` and \
            `api: http://HOST:PORT` once bound. On SIGINT/SIGTERM it stops the API, commits state and offsets, \
            leaves the consumer group and exits 0.

            Configuration: defaults < --config file < RECSTREAM_* environment < flags and --set. Keys:
            \(ConfigurationKeys.all.map { "  \($0.name): \($0.help)" }.joined(separator: "\n"))
              kafka.properties.<key>: any librdkafka property (security: security.protocol, sasl.*, ssl.*)
            """
    )

    @OptionGroup var options: RunOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let logger = LoggingSetup.bootstrap(level: options.logLevel)
        do {
            try await Server(configuration: configuration, logger: logger).run()
        } catch {
            Terminal.err("recstream: \(error)")
            throw ExitCode.failure
        }
    }
}
