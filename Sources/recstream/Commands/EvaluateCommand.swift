import ArgumentParser

struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Reproduce the offline evaluations of docs/evaluation.md (deterministic; use a release build).",
        subcommands: [EvaluateLookalikeCommand.self]
    )
}
