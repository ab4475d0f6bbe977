import ArgumentParser
import Foundation
import RecstreamRuntime

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Inspect a state directory offline (the instance using it must be stopped).",
        subcommands: [StateDumpCommand.self, StateResetCommand.self]
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

struct StateResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Move a state directory aside so the next start rebuilds the state from Kafka.",
        discussion: """
            Renames DIR to DIR.reset-<time> (nothing is deleted) and removes its checkpoints' link to it. The next \
            `recstream run --state-dir DIR` starts every partition from the beginning of the topic (kafka.start_from) \
            and replays it; that rebuilds the same state if the topic still holds the events it was built from.
            """)

    @Option(help: "The state directory to move aside.")
    var stateDir: String

    func run() async throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: stateDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(stateDir) is not a directory")
        }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let target = stateDir.hasSuffix("/") ? String(stateDir.dropLast()) + ".reset-\(stamp)" : stateDir + ".reset-\(stamp)"
        do {
            try fm.moveItem(atPath: stateDir, toPath: target)
        } catch {
            Terminal.err("recstream: cannot move \(stateDir): \(error.localizedDescription) (is an instance still running on it?)")
            throw ExitCode.failure
        }
        Terminal.out("moved \(stateDir) to \(target); the next start replays the topic from the beginning")
    }
}
