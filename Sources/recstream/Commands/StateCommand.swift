import ArgumentParser
import RecstreamRuntime

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Inspect a state directory offline (the instance using it must be stopped).",
        subcommands: [StateDumpCommand.self]
    )
}

struct StateDumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the committed state canonically: each shard's offsets, watermark, counters and items.",
        discussion: "Two runs over the same input dump identically, whatever crashes and restarts happened in between."
    )

    @OptionGroup var options: RunOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        guard let dir = configuration.stateDir else { throw ValidationError("--state-dir is required") }
        do {
            for line in try Runtime.dumpCommittedState(stateDirectory: dir, configuration: configuration) { Terminal.out(line) }
        } catch {
            Terminal.err("recstream: \(error)")
            throw ExitCode.failure
        }
    }
}
