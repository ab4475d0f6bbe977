import ArgumentParser

/// The `recstream` command: parses, wires and runs; the logic lives in the library modules.
@main
struct Recstream: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "recstream",
        abstract: "A streaming state engine for recommender systems.",
        discussion: """
            Consumes user events (exposure, click, like, collect, share, comment) from Kafka and keeps, in \
            near real time, the state a recommender's retrieval side needs, served over an HTTP query API.

            Start here:
              recstream demo                      embedded broker + pipeline + generated traffic, one command
              recstream run                       the pipeline and query API (embedded broker unless --brokers)
              recstream admin status              what a running instance owns and how far it is
            """,
        version: version,
        subcommands: [
            RunCommand.self, BrokerCommand.self, ProduceCommand.self, GenerateCommand.self, DemoCommand.self,
            AdminCommand.self, StateCommand.self, BenchCommand.self, EvaluateCommand.self,
        ]
    )
}
