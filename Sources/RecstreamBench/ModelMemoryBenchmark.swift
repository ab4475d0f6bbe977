import Foundation
import RecstreamCore
import RecstreamRuntime

/// What a served embedding model costs in memory, format 1 decoded into the heap (how every model
/// was served before format 2) against format 2 mapped from its file, behind
/// `recstream bench model-memory`.
///
/// ``prepare(directory:options:progress:)`` trains one model on synthetic engagements and
/// publishes it twice through the ``ModelStore``: once in format 1, once in format 2.
/// ``measure(directory:options:)`` runs in a fresh process per format (so the heap it reports is
/// the model's, not what the training left): resident memory before loading, after
/// ``ModelStore/load(_:)`` and the ``EmbeddingRetriever``, after `queries` retrievals and vector
/// reads, and at the peak of an incremental job trained from the served model (its heap copy, the
/// new index and the encoded blob, all alive at once). Resident memory is read from
/// /proc/self/status: `RssAnon` (heap and other private memory) and `RssFile` (mapped file pages,
/// which the kernel may drop and read again).
public enum ModelMemoryBenchmark {
    public struct Options: Sendable {
        /// Users and items that engage enough to get a vector (about 98% of the items do).
        public var users = 200_000
        public var items = 100_000
        /// Users below the engagement threshold, with fallback lists.
        public var coldUsers = 20_000
        public var dimension = 32
        /// Retrievals (k = 100, the configured nprobe) and item-vector reads after loading.
        public var queries = 2_000
        /// Engagements of the incremental job trained from the served model.
        public var jobEngagements = 20_000
        public var seed: UInt64 = 5

        public init() {}
    }

    /// Resident memory in bytes: the process's from /proc/self/status, and the pages of mapped
    /// model.bin files from /proc/self/smaps.
    public struct Resident: Codable, Sendable {
        public var total: Int
        public var anonymous: Int
        public var file: Int
        /// Resident pages of mappings of a file named model.bin.
        public var modelFile: Int

        public static func now() -> Resident { of(process: "self") }

        /// The resident memory of process `pid` (another process's, as a parent measures a child).
        public static func of(pid: Int32) -> Resident { of(process: String(pid)) }

        private static func of(process: String) -> Resident {
            // Read to the end: /proc files report size 0, and a read sized by it stops short.
            func proc(_ name: String) -> String {
                String(decoding: FileHandle(forReadingAtPath: "/proc/\(process)/" + name)?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            }
            let text = proc("status")
            func kib(_ line: Substring) -> Int { (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024 }
            func field(_ key: String) -> Int {
                text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }).map(kib) ?? 0
            }
            var modelFile = 0
            var inModel = false
            let smaps = proc("smaps")
            for line in smaps.split(separator: "\n") {
                // A mapping's header starts with its address range, "start-end", in hex.
                let range = line.prefix(while: { $0 != " " })
                if range.contains("-") && range.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                    inModel = line.hasSuffix("/model.bin")
                } else if inModel && line.hasPrefix("Rss:") {
                    modelFile += kib(line)
                }
            }
            return Resident(total: field("VmRSS"), anonymous: field("RssAnon"), file: field("RssFile"), modelFile: modelFile)
        }

        static func - (a: Resident, b: Resident) -> Resident {
            Resident(
                total: a.total - b.total, anonymous: a.anonymous - b.anonymous, file: a.file - b.file,
                modelFile: a.modelFile - b.modelFile)
        }
    }

    /// One process's figures for one format.
    public struct Measurement: Codable, Sendable {
        public var format: Int
        public var mapped: Bool
        public var idsWithVectors: Int
        public var fileBytes: Int
        public var loadSeconds: Double
        /// Heap bytes the model, index and popularity order account for (``EmbeddingRetriever/approximateBytes``).
        public var accountedHeapBytes: Int
        /// Of which the model's tables and fallback lists (``EmbeddingModel/approximateBytes``).
        public var modelHeapBytes: Int
        /// Increases over the resident memory before loading.
        public var afterLoad: Resident
        public var afterQueries: Resident
        public var jobPeak: Resident
        public var retrieveMicros: [Double]
    }

    public struct Prepared: Sendable {
        public var format1: String
        public var format2: String
        public var users: Int
        public var items: Int
        public var fallbackUsers: Int
        public var trainSeconds: Double
    }

    static let version = EmbeddingModelVersion(major: 1, minor: 0)

    static func configuration(_ options: Options) -> EmbeddingConfiguration {
        var c = EmbeddingConfiguration()
        c.dimension = options.dimension
        c.epochs = 1
        c.incrementalEpochs = 1
        c.seed = options.seed
        return c
    }

    /// Every warm user engages 4 distinct items, every cold user 1 or 2, uniformly at random; one
    /// millisecond apart from `start`.
    static func engagements(_ options: Options, users: Range<Int>, perUser: ClosedRange<Int>, start: Int64, seed: UInt64)
        -> [Engagement]
    {
        var random = Xoshiro256StarStar(seed: seed)
        var out: [Engagement] = []
        out.reserveCapacity(users.count * perUser.upperBound)
        var time = start
        for user in users {
            let n = perUser.lowerBound + Int((random.next() % UInt64(perUser.count)))
            var chosen: [Int32] = []
            while chosen.count < n {
                let item = Int32((random.next() % UInt64(options.items)))
                if !chosen.contains(item) { chosen.append(item) }
            }
            for item in chosen {
                time += 1
                out.append(Engagement(user: Int32(user), item: item, type: .click, time: EventTime(millis: time)))
            }
        }
        return out
    }

    static let start: Int64 = 1_793_491_200_000

    /// Trains the model and publishes it in both formats under `directory`.
    public static func prepare(directory: String, options: Options, progress: (String) -> Void) throws -> Prepared {
        progress("engagements")
        let warm = engagements(options, users: 0..<options.users, perUser: 4...4, start: start, seed: options.seed)
        let cold = engagements(
            options, users: options.users..<(options.users + options.coldUsers), perUser: 1...2,
            start: warm.last?.time.millis ?? start, seed: options.seed ^ 0xC01D)
        let all = warm + cold
        progress("training a full refresh on \(all.count) engagements (1 epoch)")
        let clock = ContinuousClock.now
        let end = all.last?.time ?? EventTime(millis: start)
        let model = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: all, window: CooccurrenceWindow(end: end, lengthMillis: 30 * 86_400_000),
            configuration: configuration(options))
        let trainSeconds = (ContinuousClock.now - clock).seconds
        progress("index and both files")
        let retriever = EmbeddingRetriever(model: model)
        let format1 = (directory as NSString).appendingPathComponent("format1")
        let format2 = (directory as NSString).appendingPathComponent("format2")
        try ModelStore(directory: format1).publishFormat1(model)
        try ModelStore(directory: format2).publish(model, index: retriever.index, trainSeconds: trainSeconds)
        return Prepared(
            format1: format1, format2: format2, users: model.users.vectorCount, items: model.items.vectorCount,
            fallbackUsers: model.fallbackUserCount, trainSeconds: trainSeconds)
    }

    /// Loads the version `directory`'s `CURRENT` names and measures it (see the type). Run it in
    /// a process of its own.
    public static func measure(directory: String, options: Options) throws -> Measurement {
        let store = ModelStore(directory: directory)
        guard let version = store.current() else { throw ModelStore.Failure(description: "no CURRENT in \(directory)") }
        let fileBytes = store.versions().first { $0.version == version.description }?.bytes ?? 0
        let before = Resident.now()
        let clock = ContinuousClock.now
        let model = try store.load(version)
        let retriever = EmbeddingRetriever(model: model)
        let loadSeconds = (ContinuousClock.now - clock).seconds
        let afterLoad = Resident.now() - before

        var random = Xoshiro256StarStar(seed: options.seed ^ 0x5EA)
        var micros: [Double] = []
        var checksum = 0
        for _ in 0..<options.queries {
            let user = Int32((random.next() % UInt64(model.users.idLimit)))
            let t = ContinuousClock.now
            let r = retriever.retrieve(user: user, k: 100)
            micros.append((ContinuousClock.now - t).seconds * 1e6)
            checksum &+= r.items.count
            let item = Int32((random.next() % UInt64(model.items.idLimit)))
            checksum &+= model.items.vector(item)?.count ?? 0
        }
        let afterQueries = Resident.now() - before

        // An incremental job from the served model: its heap copy, the trained model's index and
        // the encoded blob, alive together as in EmbeddingJobs before the publish writes the file.
        let fresh = engagements(
            options, users: 0..<(options.jobEngagements / 4), perUser: 4...4,
            start: model.metadata.trainedThrough.millis, seed: options.seed ^ 0x10B)
        var run = try EmbeddingTrainingRun.incremental(
            served: model, engagements: fresh, configuration: model.configuration)
        EmbeddingTrainer.train(&run)
        let trained = run.finish()
        let trainedRetriever = EmbeddingRetriever(model: trained)
        let blob = trained.encode(index: trainedRetriever.index)
        let jobPeak = Resident.now() - before
        checksum &+= blob.count & 1
        precondition(checksum >= 0, "unreachable: keeps the reads")
        return Measurement(
            format: model.isMapped ? Int(EmbeddingModel.formatVersion) : Int(EmbeddingModel.format1),
            mapped: model.isMapped, idsWithVectors: model.users.vectorCount + model.items.vectorCount,
            fileBytes: fileBytes, loadSeconds: loadSeconds, accountedHeapBytes: retriever.approximateBytes,
            modelHeapBytes: model.approximateBytes,
            afterLoad: afterLoad, afterQueries: afterQueries, jobPeak: jobPeak, retrieveMicros: micros)
    }

    public static let heading = "## Embedding model memory: mapped against decoded"

    /// The section of docs/benchmarks.md.
    public static func section(
        command: String, options: Options, prepared: Prepared, decoded: Measurement, mapped: Measurement
    ) -> String {
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        func perID(_ bytes: Int, _ m: Measurement) -> String {
            String(format: "%.1f B", Double(bytes) / Double(max(m.idsWithVectors, 1)))
        }
        func us(_ m: Measurement, _ q: Double) -> String {
            String(format: "%.0f µs", BenchmarkReport.quantile(m.retrieveMicros, q))
        }
        func row(_ name: String, _ f: (Measurement) -> String) -> String { "| \(name) | \(f(decoded)) | \(f(mapped)) |" }
        let ids = decoded.idsWithVectors
        return """
            \(heading)

            Reproduce with `.build/release/\(command)` (release build). \(BenchmarkReport.provenance()). One model \
            trained on synthetic engagements (d \(options.dimension), 1 epoch): \(prepared.users) users and \
            \(prepared.items) items with a vector (\(ids) ids), \(prepared.fallbackUsers) users with a fallback list; \
            published by the model store once in format 1 and once in format 2, then each loaded by \
            `ModelStore.load` in a fresh process, which also builds the `EmbeddingRetriever`. Resident memory is \
            the increase over the process before loading: anonymous (`RssAnon` of /proc/self/status: the heap) and \
            the resident pages of the mapped model.bin (`Rss` of its mapping in /proc/self/smaps: page cache the \
            kernel may drop and read again). \
            Per id: divided by the \(ids) ids with a vector.

            | | format 1, decoded into the heap (before) | format 2, mapped (after) |
            |---|---|---|
            \(row("model.bin") { mib($0.fileBytes) + " (" + perID($0.fileBytes, $0) + " per id)" })
            \(row("load: checksum, open, retriever") { String(format: "%.2f s", $0.loadSeconds) })
            \(row("heap the model, index and popularity order account for") { mib($0.accountedHeapBytes) + " (" + perID($0.accountedHeapBytes, $0) + " per id)" })
            \(row("of which the model (`EmbeddingModel.approximateBytes`)") { mib($0.modelHeapBytes) + " (" + perID($0.modelHeapBytes, $0) + " per id)" })
            \(row("after load: anonymous resident") { mib($0.afterLoad.anonymous) + " (" + perID($0.afterLoad.anonymous, $0) + " per id)" })
            \(row("after load: model.bin pages resident (file-backed)") { mib($0.afterLoad.modelFile) })
            \(row("after \(options.queries) retrievals and item-vector reads: anonymous / model.bin pages") { mib($0.afterQueries.anonymous) + " / " + mib($0.afterQueries.modelFile) })
            \(row("retrieve top 100 (IVF, nprobe \(EmbeddingConfiguration().ivfProbes)): p50 / p99") { us($0, 0.5) + " / " + us($0, 0.99) })
            \(row("incremental job from the served model, \(options.jobEngagements) engagements: anonymous at its peak") { mib($0.jobPeak.anonymous) + " (" + perID($0.jobPeak.anonymous, $0) + " per id)" })

            The job's peak holds the heap copy of the served model it trains, the new model's index and its \
            encoded blob; it is released when the job has written the file and the new version is served from \
            its mapping.

            """
    }
}
