import Foundation
import RecstreamKafka

/// The results of `recstream bench` and their rendering into docs/benchmarks.md.
public struct BenchmarkReport: Sendable {
    public var events: Int
    public var meanEventBytes: Double
    public var produceSeconds: Double
    public var rounds: Int
    public var pinned: Bool
    /// Records per second, one value per round.
    public var ceiling: [Double]
    public var pipelineJSON: [Double]
    public var pipelinePB: [Double]
    public var latenciesMillis: [Double]
    public var loadRate: Int
    public var command: String
    /// `bench exposure-core` output (exposures per second, bytes per user and exposure).
    public var exposureCore: [String: Double]
    public var serving: Serving?
    public var cooccurrenceLines: [String]

    /// Query-side measurements against a loaded instance.
    public struct Serving: Sendable {
        public var filterCallsPerSecond: Double
        public var filterClientMillis: [Double]
        public var filterServerMillis: [Double]
        public var exposureFreshnessMillis: [Double]
        public var similarFreshnessMillis: [Double]

        public init(
            filterCallsPerSecond: Double, filterClientMillis: [Double], filterServerMillis: [Double], exposureFreshnessMillis: [Double],
            similarFreshnessMillis: [Double]
        ) {
            self.filterCallsPerSecond = filterCallsPerSecond
            self.filterClientMillis = filterClientMillis
            self.filterServerMillis = filterServerMillis
            self.exposureFreshnessMillis = exposureFreshnessMillis
            self.similarFreshnessMillis = similarFreshnessMillis
        }
    }

    public init(
        events: Int, meanEventBytes: Double, produceSeconds: Double, rounds: Int, pinned: Bool, ceiling: [Double],
        pipelineJSON: [Double], pipelinePB: [Double], latenciesMillis: [Double], loadRate: Int, command: String,
        exposureCore: [String: Double] = [:], serving: Serving? = nil, cooccurrenceLines: [String] = []
    ) {
        self.exposureCore = exposureCore
        self.serving = serving
        self.cooccurrenceLines = cooccurrenceLines
        self.events = events
        self.meanEventBytes = meanEventBytes
        self.produceSeconds = produceSeconds
        self.rounds = rounds
        self.pinned = pinned
        self.ceiling = ceiling
        self.pipelineJSON = pipelineJSON
        self.pipelinePB = pipelinePB
        self.latenciesMillis = latenciesMillis
        self.loadRate = loadRate
        self.command = command
    }

    /// The median (mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// The q-quantile by nearest rank.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        let rank = Int((q * Double(s.count)).rounded(.up)) - 1
        return s[min(max(rank, 0), s.count - 1)]
    }

    /// Per-round ratios pipeline / ceiling, then their median: each ratio compares numbers
    /// measured minutes apart on the same machine state.
    public var jsonRatio: Double { Self.median(zip(pipelineJSON, ceiling).map { $0 / $1 }) }
    public var protobufRatio: Double { Self.median(zip(pipelinePB, ceiling).map { $0 / $1 }) }

    public var summary: String {
        String(
            format: "ceiling %.0f/s, JSON pipeline %.0f/s (%.0f%% of ceiling), protobuf pipeline %.0f/s (%.0f%%), produce-to-queryable p50 %.1f ms p99 %.1f ms",
            Self.median(ceiling), Self.median(pipelineJSON), jsonRatio * 100, Self.median(pipelinePB), protobufRatio * 100,
            Self.quantile(latenciesMillis, 0.5), Self.quantile(latenciesMillis, 0.99))
    }

    /// "Measured <date> on <machine>, commit <hash>": where a figure came from, for every section a
    /// bench command writes. The commit is the working tree's (`git rev-parse`), marked
    /// `+changes` when it has uncommitted changes, or `unknown` outside a checkout.
    public static func provenance(date: Date = Date()) -> String {
        "Measured \(ISO8601DateFormatter().string(from: date)) on \(machine()), commit \(commit())"
    }

    /// The current commit's short hash, `+changes` when the tree differs from it.
    public static func commit() -> String {
        func git(_ arguments: [String]) -> String? {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git"] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return nil }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let hash = git(["rev-parse", "--short=10", "HEAD"]) else { return "unknown" }
        let dirty = git(["status", "--porcelain", "--untracked-files=no"]).map { !$0.isEmpty } ?? false
        return dirty ? hash + "+changes" : hash
    }

    /// `existing` with the text between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` replaced by
    /// `section` (markers kept), or the marked section appended when there is none.
    public static func replacingMarkedSection(_ name: String, with section: String, in existing: String) -> String {
        let begin = "<!-- \(name):begin (written by recstream bench \(name)) -->"
        let end = "<!-- \(name):end -->"
        let block = begin + "\n" + section.trimmingCharacters(in: .newlines) + "\n" + end
        if let from = existing.range(of: "<!-- \(name):begin"), let to = existing.range(of: end, range: from.upperBound..<existing.endIndex) {
            var text = existing
            text.replaceSubrange(from.lowerBound..<to.upperBound, with: block)
            return text
        }
        return existing + (existing.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n"
    }

    public static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
            $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
        } ?? "unknown CPU"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    }

    /// `existing` with the section headed `heading` (a `## ` line) replaced by `section`, or
    /// `section` appended when there is none: how a single-figure bench command updates its part.
    public static func replacingSection(_ heading: String, with section: String, in existing: String?) -> String {
        guard var text = existing else { return "# Benchmarks\n\n" + section }
        if let start = text.range(of: "\n" + heading + "\n") {
            let from = text.index(after: start.lowerBound)
            let end = text.range(of: "\n## ", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
            text.replaceSubrange(from..<end, with: section.trimmingCharacters(in: .newlines) + "\n")
            return text
        }
        if !text.hasSuffix("\n") { text += "\n" }
        return text + "\n" + section.trimmingCharacters(in: .newlines) + "\n"
    }

    /// `generated` with every `## ` section of `existing` that `generated` lacks appended, so the
    /// sections other benchmark commands wrote (embeddings, look-alike, load) survive a rerun.
    public static func merging(_ generated: String, into existing: String?) -> String {
        guard let existing else { return generated }
        func sections(_ text: String) -> [(heading: String, body: String)] {
            var result: [(String, String)] = []
            for chunk in ("\n" + text).components(separatedBy: "\n## ").dropFirst() {
                let heading = chunk.prefix { $0 != "\n" }
                result.append((String(heading), "## " + chunk))
            }
            return result
        }
        let ownHeadings = Set(sections(generated).map(\.heading))
        var merged = generated
        for (heading, body) in sections(existing) where !ownHeadings.contains(heading) {
            if !merged.hasSuffix("\n") { merged += "\n" }
            merged += "\n" + body.trimmingCharacters(in: .newlines) + "\n"
        }
        return merged
    }

    public func markdown() -> String {
        func n(_ v: Double) -> String { String(format: "%.0f", v) }
        func row(_ name: String, _ values: [Double]) -> String {
            "| \(name) | **\(n(Self.median(values)))** | \(values.map(n).joined(separator: ", ")) |"
        }
        let settings = KafkaConsumer.defaultProperties.keys.sorted().filter { $0.hasPrefix("queued") || $0.hasPrefix("fetch") }
            .map { "`\($0)=\(KafkaConsumer.defaultProperties[$0]!)`" }.joined(separator: ", ")
        let date = ISO8601DateFormatter().string(from: Date())
        return """
            # Benchmarks

            Reproduce with `\(command)` (a release build; about ten minutes). The command rewrites its own sections of this file and keeps the others.
            Measured \(date) on \(Self.machine()), commit \(Self.commit()), librdkafka \(KafkaConfiguration.librdkafkaVersion), \
            embedded broker (librdkafka's mock cluster, retention limit lifted).

            ## Ingest throughput: the whole ingest path (every state family) and commits, against the raw consume ceiling

            \(ReportFormat.grouped(events)) generated events (mean \(String(format: "%.0f", meanEventBytes)) bytes as JSON; \
            about 92% exposures), 8 partitions, produced once before the rounds \
            (\(String(format: "%.1f", produceSeconds)) s for both copies). Each round runs three fresh processes one \
            after another\(pinned ? ", each pinned with `taskset -c 0` while the broker is pinned to core 1" : " (not pinned)"):

            - **ceiling**: librdkafka consuming the JSON topic with no processing at all, same consumer settings as the pipeline;
            - **JSON pipeline**: the real ingest path (`recstream run`'s `IngestPipeline`): strict decode, event-id dedup, \
            lateness, item statistics, exposure filters, co-occurrence and LastN, seed lists, the engagement log, atomic RocksDB commit of state and offsets every second;
            - **protobuf pipeline**: the same over the protobuf copy (`content-type: application/x-protobuf`).

            Consumer fetch settings (both): \(settings), batches of 1000 records (`rd_kafka_consume_batch_queue`). \
            Rates are records per second from the first record to the last; medians of \(rounds) rounds.

            | measurement | median records/s | rounds |
            |---|---|---|
            \(row("ceiling (raw consume)", ceiling))
            \(row("JSON pipeline", pipelineJSON))
            \(row("protobuf pipeline", pipelinePB))

            Ratio to the ceiling (median of per-round ratios): **JSON \(String(format: "%.0f%%", jsonRatio * 100))**, \
            **protobuf \(String(format: "%.0f%%", protobufRatio * 100))** (target: at least 50% for JSON, more for protobuf).

            ## Produce to queryable

            `recstream run` (pinned to core 0) consumes a topic receiving \(ReportFormat.grouped(loadRate)) generated \
            events/s; every 25 ms a probe event for a new item is produced (`linger.ms=0`) and the query API is polled \
            every 0.5 ms until `GET /v1/items/{probe}/stats` answers 200. \(latenciesMillis.count) probes.

            | p50 | p90 | p99 | max |
            |---|---|---|---|
            | \(String(format: "%.1f ms", Self.quantile(latenciesMillis, 0.5))) | \(String(format: "%.1f ms", Self.quantile(latenciesMillis, 0.9))) | \(String(format: "%.1f ms", Self.quantile(latenciesMillis, 0.99))) | \(String(format: "%.1f ms", latenciesMillis.max() ?? 0)) |

            The machine has 2 cores shared by the broker, the producer of the background load, the prober and the \
            pipeline, so these are upper bounds for a dedicated deployment.

            \(exposureSection())
            \(cooccurrenceSection())
            """
    }
}

extension BenchmarkReport {
    func ms(_ values: [Double], _ q: Double) -> String { String(format: "%.2f ms", Self.quantile(values, q)) }

    func exposureSection() -> String {
        let e = exposureCore
        var text = """
            ## Exposure filters

            In memory (`recstream bench exposure-core`, pinned to one core): \(ReportFormat.grouped(Int(e["exposures"] ?? 0))) exposures of \
            \(ReportFormat.grouped(Int(e["users"] ?? 0))) users with Zipf(1.0) activity over 30 days of event time, each to a new item, \
            default filters (1% target, 30 days, 6 slices):

            | exposures applied per CPU second | bytes per retained exposure (memory) | bytes per retained exposure (heap growth) | bytes per retained exposure (persisted) | memory / persisted | heap / persisted | bytes per user with exposures (memory) | users with exposures |
            |---|---|---|---|---|---|---|---|
            | \(ReportFormat.grouped(Int(e["exposures_per_second"] ?? 0))) | \(String(format: "%.2f", e["bytes_per_exposure"] ?? 0)) | \(String(format: "%.2f", e["heap_bytes_per_exposure"] ?? 0)) | \(String(format: "%.2f", e["serialized_bytes_per_exposure"] ?? 0)) | \(String(format: "%.2f", e["memory_to_persisted"] ?? 0)) | \(String(format: "%.2f", e["heap_to_persisted"] ?? 0)) | \(String(format: "%.0f", e["bytes_per_user"] ?? 0)) | \(ReportFormat.grouped(Int(e["live_users"] ?? 0))) |

            Memory is the filters' own count of every heap byte (the record arenas with their spare capacity and \
            garbage, offsets and lengths per user); heap growth is the resident anonymous memory (`RssAnon`) after \
            the last exposure less after the first chunk of generated exposures. Persisted is the slice records one drain writes. \
            docs/exposure-filter.md has the layout and the measured trade-off between slice counts and bytes.

            """
        if let s = serving {
            text += """

                Against `recstream run` (pinned to core 0) holding 1,000,000 events of 100,000 Zipf users: \
                \(s.filterClientMillis.count) sequential `POST /v1/users/{id}/exposures/filter` calls of 500 candidates (half already \
                shown) over one connection; server time from the `Server-Timing` header.

                | calls/s (one connection) | server p50 | server p99 | client p50 | client p99 |
                |---|---|---|---|---|
                | \(String(format: "%.0f", s.filterCallsPerSecond)) | \(ms(s.filterServerMillis, 0.5)) | \(ms(s.filterServerMillis, 0.99)) | \(ms(s.filterClientMillis, 0.5)) | \(ms(s.filterClientMillis, 0.99)) |

                Produce to "exposed" (`linger.ms=0`, `/v1/exposures/check` polled every 0.5 ms), \(s.exposureFreshnessMillis.count) probes: \
                p50 \(ms(s.exposureFreshnessMillis, 0.5)), p99 \(ms(s.exposureFreshnessMillis, 0.99)) (target under 100 ms).

                """
        }
        return text
    }

    func cooccurrenceSection() -> String {
        var text = """
            ## ItemCF and Swing

            `recstream bench cooccurrence` (pinned to one core; 1,000,000 engagements of 12,000 users with about 47-item \
            histories, 50,000 items; history cap 50; rates per CPU second of the applying thread):

            ```
            \(cooccurrenceLines.joined(separator: "\n"))
            ```

            """
        if let s = serving {
            text += """

                Engagement to `similar` (a new user engages two new items; `GET /v1/items/{first}/similar?method=itemcf` polled \
                until it lists the second), \(s.similarFreshnessMillis.count) probes against the loaded instance: \
                p50 \(ms(s.similarFreshnessMillis, 0.5)), p99 \(ms(s.similarFreshnessMillis, 0.99)).

                """
        }
        return text
    }
}
