import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamQueryAPI
import RecstreamRuntime

/// `recstream bench paged-state`: resident memory, misses and restart when the state outgrows
/// `state.cache_bytes`: exposure filters grown from one half of the exposures to both, the second
/// half from new users, then a kill -9, a restart and every first-half user's filter read back.
struct BenchPagedStateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paged-state",
        abstract: "State larger than the cache: resident memory as exposure filters grow, miss latency, restart to first answer.",
        discussion: """
            Starts `recstream broker` and one `recstream run` (single mode, embeddings off) with \
            state.cache_bytes=--cache-bytes. Produces --exposures-per-half exposures of users a0, a1, ... \
            (--exposures-per-user distinct items each, in feed sessions of 20), waits until every one is \
            committed and reads the instance's resident memory (/proc/PID/status, median of 5 samples 1 s \
            apart); then as many exposures of new users b0, b1, ... and reads it again. Then kills the instance \
            (SIGKILL), starts it on the same state directory and times the first answer of the exposure filter \
            route. Finally asks for every first-half user (or --check-users of them) whether 500 candidates \
            were shown (its own items and unseen ones): a user not read since the restart is not in the cache, \
            so each call reads the store. Reports growth, false negatives, the call's latency quantiles and \
            the state's size on disk against the cache. Rewrites the section "Paged state, cache N MiB" of \
            --output. Build with -c release.

            Example: recstream bench paged-state --cache-bytes 67108864
            """)

    @Option(help: "Exposures in each half (the second half from new users).")
    var exposuresPerHalf = 6_000_000

    @Option(help: "Distinct items each user is shown.")
    var exposuresPerUser = 100

    @Option(help: "Items in the catalogue.")
    var items = 50_000

    @Option(help: "state.cache_bytes of the instance.")
    var cacheBytes = 64 << 20

    @Option(help: "First-half users whose filters are read back after the restart (0: all).")
    var checkUsers = 0

    @Option(help: "Markdown report whose section is rewritten.")
    var output = "docs/benchmarks.md"

    @Flag(help: "Print the figures as JSON.")
    var json = false

    struct Figures: Codable {
        var exposuresPerHalf: Int
        var usersPerHalf: Int
        var cacheBytes: Int
        var residentAfterFirstHalf: Int
        var residentAfterSecondHalf: Int
        var anonymousAfterFirstHalf: Int
        var anonymousAfterSecondHalf: Int
        var cacheResidentBytes: Int
        var stateDiskBytes: Int
        var ingestSecondsFirstHalf: Double
        var ingestSecondsSecondHalf: Double
        var restartFirstAnswerSeconds: Double
        var usersChecked: Int
        var exposuresChecked: Int
        var falseNegatives: Int
        var unseenChecked: Int
        var falsePositives: Int
        var callP50Millis: Double
        var callP99Millis: Double
        var callMaxMillis: Double
        var growth: Double { Double(residentAfterSecondHalf) / Double(residentAfterFirstHalf) - 1 }
    }

    private static let sessionLength = 20

    func run() async throws {
        try await reportingFailures {
            guard exposuresPerUser >= Self.sessionLength, exposuresPerUser % Self.sessionLength == 0, exposuresPerUser <= items
            else { throw ValidationError("--exposures-per-user must be a multiple of \(Self.sessionLength) and at most --items") }
            let usersPerHalf = exposuresPerHalf / exposuresPerUser
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            Terminal.err("bench paged-state: starting the broker")
            let broker = try ChildProcess([binary, "broker"])
            defer { broker.terminate() }
            let bootstrap = try await broker.value(after: "bootstrap:")
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-paged-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func start() throws -> ChildProcess {
                try ChildProcess([
                    binary, "run", "--brokers", bootstrap, "--state-dir", dir, "--http-address", "127.0.0.1:0", "--log-level", "warning",
                    "--set", "embedding.enabled=false", "--set", "state.cache_bytes=\(cacheBytes)",
                ])
            }
            var instance = try start()
            var client = APIClient(baseURL: try await instance.value(after: "api:"), timeout: .seconds(30))

            // Event time: three days per half, starting 20 days ago (inside the 30-day retention,
            // never ahead of the wall clock).
            let day: Int64 = 86_400_000
            let origin = (Int64(Date().timeIntervalSince1970 * 1000) - 20 * day) / 60_000 * 60_000
            let span = 3 * day
            let publisher = try EventPublisher(bootstrapServers: bootstrap, topic: "recstream.events", format: .json)
            var produced = 0
            func produceHalf(_ prefix: String, startingAt start: Int64) throws {
                let step = max(1, span / Int64(exposuresPerHalf))
                var n = 0
                for session in 0..<(exposuresPerUser / Self.sessionLength) {
                    for u in 0..<usersPerHalf {
                        for j in 0..<Self.sessionLength {
                            let k = session * Self.sessionLength + j
                            let user = "\(prefix)\(u)"
                            try publisher.send(
                                Event(
                                    eventID: "\(user)-\(k)", type: .exposure, userID: user, itemID: Self.item(user: u, k: k, items: items),
                                    time: EventTime(millis: start + Int64(n) * step)))
                            n += 1
                        }
                    }
                    Terminal.err("bench paged-state: produced \(Terminal.grouped(produced + n)) exposures")
                }
                try publisher.flush(timeout: .seconds(600))
                produced += n
            }
            let clock = ContinuousClock()
            func awaitCommitted(_ total: Int) async throws -> Double {
                let started = clock.now
                while true {
                    let (code, body) = try await client.request("/v1/status")
                    if code == 200, let status = try? APIJSON.decoder().decode(InstanceStatus.self, from: body) {
                        let applied = status.partitions.reduce(0) { $0 + Int($1.applied) + Int($1.duplicates) + Int($1.late) }
                        let committed = status.partitions.allSatisfy { p in p.committedOffset != nil && p.committedOffset == p.endOffset }
                        if applied >= total && committed { return (clock.now - started).seconds }
                    }
                    if clock.now - started > .seconds(3_600) { throw ValidationError("not committed within an hour") }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            func resident() async throws -> (total: Int, anonymous: Int) {
                var totals: [Double] = []
                var anonymous: [Double] = []
                for _ in 0..<5 {
                    let r = ModelMemoryBenchmark.Resident.of(pid: instance.process.processIdentifier)
                    totals.append(Double(r.total))
                    anonymous.append(Double(r.anonymous))
                    try await Task.sleep(for: .seconds(1))
                }
                return (Int(BenchmarkReport.median(totals)), Int(BenchmarkReport.median(anonymous)))
            }

            try produceHalf("a", startingAt: origin)
            let firstSeconds = try await awaitCommitted(produced)
            let first = try await resident()
            Terminal.err("bench paged-state: first half committed; resident \(first.total >> 20) MiB")
            try produceHalf("b", startingAt: origin + span)
            publisher.close()
            let secondSeconds = try await awaitCommitted(produced)
            let second = try await resident()
            let (_, statusBody) = try await client.request("/v1/status")
            let status = try APIJSON.decoder().decode(InstanceStatus.self, from: statusBody)
            Terminal.err("bench paged-state: second half committed; resident \(second.total >> 20) MiB")

            // kill -9, restart, first answer.
            try await instance.crash()
            let restarted = clock.now
            instance = try start()
            defer { instance.terminate() }
            client = APIClient(baseURL: try await instance.value(after: "api:"), timeout: .seconds(30))
            let probe = try JSONEncoder().encode(["items": [Self.item(user: 0, k: 0, items: items)]])
            var firstAnswer: Double? = nil
            while firstAnswer == nil {
                if let (code, _) = try? await client.request("/v1/users/a0/exposures/filter", method: .POST, json: probe), code == 200 {
                    firstAnswer = (clock.now - restarted).seconds
                } else {
                    if clock.now - restarted > .seconds(600) { throw ValidationError("no answer within 600 s of the restart") }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let disk = Self.directoryBytes(dir)
            Terminal.err("bench paged-state: first answer \(String(format: "%.3f", firstAnswer!)) s after the restart; checking filters")

            // Every first-half user's exposures, read back: not read since the restart.
            let checked = checkUsers > 0 ? min(checkUsers, usersPerHalf) : usersPerHalf
            let stride = max(1, usersPerHalf / checked)
            var latencies: [Double] = []
            var falseNegatives = 0
            var falsePositives = 0
            var exposuresChecked = 0
            var unseenChecked = 0
            for u in Swift.stride(from: 0, to: stride * checked, by: stride) {
                let seen = (0..<exposuresPerUser).map { Self.item(user: u, k: $0, items: items) }
                let unseen = (0..<(500 - exposuresPerUser)).map { "unseen-\(u)-\($0)" }
                let body = try JSONEncoder().encode(["items": seen + unseen])
                let started = clock.now
                let (code, answer) = try await client.request("/v1/users/a\(u)/exposures/filter", method: .POST, json: body)
                latencies.append((clock.now - started).seconds * 1000)
                guard code == 200 else { throw ValidationError("filter call for a\(u) answered \(code)") }
                let kept = Set((try JSONSerialization.jsonObject(with: answer) as? [String: Any])?["items"] as? [String] ?? [])
                let missed = seen.enumerated().filter { kept.contains($0.element) }
                if !missed.isEmpty && falseNegatives < 2_000 {
                    Terminal.err("bench paged-state: a\(u): \(missed.count) exposures not found (k = \(missed.prefix(25).map(\.offset)))")
                }
                falseNegatives += missed.count
                falsePositives += unseen.filter { !kept.contains($0) }.count
                exposuresChecked += seen.count
                unseenChecked += unseen.count
            }
            let figures = Figures(
                exposuresPerHalf: exposuresPerHalf, usersPerHalf: usersPerHalf, cacheBytes: cacheBytes,
                residentAfterFirstHalf: first.total, residentAfterSecondHalf: second.total,
                anonymousAfterFirstHalf: first.anonymous, anonymousAfterSecondHalf: second.anonymous,
                cacheResidentBytes: status.cache?.residentBytes ?? 0, stateDiskBytes: disk,
                ingestSecondsFirstHalf: firstSeconds, ingestSecondsSecondHalf: secondSeconds,
                restartFirstAnswerSeconds: firstAnswer ?? 0, usersChecked: latencies.count, exposuresChecked: exposuresChecked,
                falseNegatives: falseNegatives, unseenChecked: unseenChecked, falsePositives: falsePositives,
                callP50Millis: BenchmarkReport.quantile(latencies, 0.5), callP99Millis: BenchmarkReport.quantile(latencies, 0.99),
                callMaxMillis: latencies.max() ?? 0)
            let section = markdown(figures)
            let existing = try? String(contentsOfFile: output, encoding: .utf8)
            try BenchmarkReport.replacingSection(heading, with: section, in: existing).write(toFile: output, atomically: true, encoding: .utf8)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                Terminal.out(String(decoding: try encoder.encode(figures), as: UTF8.self))
            } else {
                Terminal.out(section)
            }
            Terminal.err("wrote the section to \(output)")
        }
    }

    private var heading: String { "## Paged state, cache \(cacheBytes >> 20) MiB" }

    /// The k-th distinct item of user u.
    static func item(user u: Int, k: Int, items: Int) -> String {
        "i\((u &* 7_919 &+ k) % items)"
    }

    /// Bytes of the files under `path`.
    static func directoryBytes(_ path: String) -> Int {
        guard let files = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total = 0
        for case let file as String in files {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + file)
            if attributes?[.type] as? FileAttributeType == .typeRegular { total += (attributes?[.size] as? Int) ?? 0 }
        }
        return total
    }

    private func markdown(_ f: Figures) -> String {
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        func ms(_ v: Double) -> String { String(format: "%.2f ms", v) }
        var command = "recstream bench paged-state --cache-bytes \(cacheBytes)"
        if exposuresPerHalf != 6_000_000 { command += " --exposures-per-half \(exposuresPerHalf)" }
        if exposuresPerUser != 100 { command += " --exposures-per-user \(exposuresPerUser)" }
        if items != 50_000 { command += " --items \(items)" }
        if checkUsers != 0 { command += " --check-users \(checkUsers)" }
        return """
            \(heading)

            Reproduce with `\(command)` (release build). \(BenchmarkReport.provenance()). One `recstream run` \
            (single mode, embeddings off, `state.cache_bytes=\(cacheBytes)`) fed \(Terminal.grouped(f.exposuresPerHalf)) \
            exposures of \(Terminal.grouped(f.usersPerHalf)) users (\(exposuresPerUser) distinct items each, sessions of \
            \(Self.sessionLength)), then as many of \(Terminal.grouped(f.usersPerHalf)) new users; resident memory is the \
            instance's VmRSS once every exposure is committed (median of 5 samples, 1 s apart). Then kill -9, a restart on \
            the same directory, and every checked first-half user's 500-candidate filter call (its \(exposuresPerUser) \
            items and \(500 - exposuresPerUser) unseen ones): no user was read since the restart, so each call reads the \
            store.

            | figure | value | target |
            |---|---|---|
            | resident memory, \(Terminal.grouped(f.exposuresPerHalf)) retained exposures | \(mib(f.residentAfterFirstHalf)) (anonymous \(mib(f.anonymousAfterFirstHalf))) | |
            | resident memory, \(Terminal.grouped(2 * f.exposuresPerHalf)) retained exposures | \(mib(f.residentAfterSecondHalf)) (anonymous \(mib(f.anonymousAfterSecondHalf))) | |
            | growth | **\(String(format: "%+.1f%%", f.growth * 100))** | at most +15% |
            | paged families in memory (status `cache.resident_bytes`) | \(mib(f.cacheResidentBytes)) | at most \(mib(f.cacheBytes)) |
            | state directory on disk | \(mib(f.stateDiskBytes)) (\(String(format: "%.1f", Double(f.stateDiskBytes) / Double(f.cacheBytes)))x the cache) | |
            | first half / second half: from the producer's flush until every offset is committed | \(String(format: "%.1f", f.ingestSecondsFirstHalf)) s / \(String(format: "%.1f", f.ingestSecondsSecondHalf)) s | |
            | restart (kill -9) to first answer | **\(String(format: "%.3f", f.restartFirstAnswerSeconds)) s** | at most 5 s |
            | first-half exposures checked / not found | \(Terminal.grouped(f.exposuresChecked)) / **\(f.falseNegatives)** | 0 |
            | unseen candidates checked / reported shown | \(Terminal.grouped(f.unseenChecked)) / \(f.falsePositives) (\(String(format: "%.3f%%", 100 * Double(f.falsePositives) / Double(max(f.unseenChecked, 1))))) | about 1% |
            | 500-candidate call, user not in the cache: p50 / p99 / max | \(ms(f.callP50Millis)) / **\(ms(f.callP99Millis))** / \(ms(f.callMaxMillis)) (\(Terminal.grouped(f.usersChecked)) calls, client-side) | p99 at most 5 ms |

            """
    }
}
