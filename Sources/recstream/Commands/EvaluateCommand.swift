import ArgumentParser

/// `recstream evaluate`: the offline evaluations behind docs/evaluation.md, one subcommand per
/// state family (deterministic; use a release build).
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Offline evaluations of the state families on generated data (docs/evaluation.md).",
        subcommands: [EvaluateEmbeddingsCommand.self, EvaluateLookalikeCommand.self]
    )
}
