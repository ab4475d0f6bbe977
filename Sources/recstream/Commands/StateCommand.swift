import ArgumentParser
import Foundation
import RecstreamCore
import RecstreamRuntime

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Inspect a state directory offline (the instance using it must be stopped).",
        subcommands: [StateDumpCommand.self, StateResetCommand.self, StateRepairClockCommand.self]
    )
}

struct StateDumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the committed state canonically: each shard's offsets, watermark, counters and items.",
        discussion: """
            Two runs over the same input dump identically, whatever crashes and restarts happened in between.

            With --from-changelog (split mode) the state is rebuilt from the group's changelog topics instead of a
            local directory: the merged state of every instance of the group, whichever owns what.
              recstream state dump --from-changelog --brokers HOST:PORT --set kafka.group_id=recstream
            """
    )

    @OptionGroup var options: RunOptions

    @Flag(help: "Rebuild the group's state from its changelog topics (split mode; needs --brokers) instead of reading --state-dir.")
    var fromChangelog = false

    func run() async throws {
        let configuration = try options.loadConfiguration()
        do {
            if fromChangelog {
                guard let brokers = configuration.brokers else { throw ValidationError("--from-changelog needs --brokers") }
                for line in try Runtime.dumpFromChangelogs(configuration: configuration, bootstrapServers: brokers) { Terminal.out(line) }
                return
            }
            guard let dir = configuration.stateDir else { throw ValidationError("--state-dir is required") }
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

struct StateRepairClockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-clock",
        abstract: "Move back watermarks that a far-future event pushed ahead of the wall clock (state from earlier versions).",
        discussion: """
            Versions before ingest.max_future_ms let one event stamped in the future move its partition's watermark \
            there for good: later on-time events were dropped as late. This moves every watermark that is after \
            now + ingest.max_future_ms back to that limit and removes what was recorded after it (statistics buckets \
            and totals, exposure slices, dedup ids), in one atomic commit. Stop the instance first.

            What the poisoned watermark already made the state forget (windows pruned, exposure slices expired, \
            on-time events dropped as late) does not come back. If the topic still holds the input, a replay restores \
            everything exactly: `recstream state reset --state-dir DIR`, then start again.
              recstream state repair-clock --state-dir DIR --dry-run
              recstream state repair-clock --state-dir DIR
            """)

    @OptionGroup var options: RunOptions

    @Flag(help: "Report what would change without writing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let configuration = try options.loadConfiguration()
        guard let dir = configuration.stateDir else { throw ValidationError("--state-dir is required") }
        let limit = EventTime(millis: RuntimeClock.system.wallMillis() + configuration.maxFutureMillis)
        do {
            let report = try Runtime.repairClock(stateDirectory: dir, configuration: configuration, limit: limit, dryRun: dryRun)
            if json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys]
                Terminal.out(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            if report.shards.isEmpty && report.engagementWatermarkMillis == nil {
                Terminal.out("no watermark is after \(StatusRendering.time(limit.millis)); nothing to repair")
                return
            }
            for r in report.shards {
                Terminal.out(
                    "\(r.stage == 0x65 ? "events" : "items") partition \(r.partition): watermark \(StatusRendering.time(r.watermarkMillis)) -> "
                        + "\(StatusRendering.time(r.repairedWatermarkMillis)); removed \(r.statisticsEventsRemoved) statistics events, "
                        + "\(r.exposureSlicesRemoved) exposure slices, \(r.dedupIDsForgotten) dedup ids")
            }
            if let w = report.engagementWatermarkMillis {
                Terminal.out("engagement state: watermark \(StatusRendering.time(w)) -> \(StatusRendering.time(report.limitMillis))")
            }
            Terminal.out(report.written ? "written" : "dry run: nothing written")
        } catch {
            Terminal.err("recstream: \(error)")
            throw ExitCode.failure
        }
    }
}
