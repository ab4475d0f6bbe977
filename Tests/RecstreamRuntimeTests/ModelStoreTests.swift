import Foundation
import Logging
import Metrics
import MetricsTestKit
import RecstreamCore
import Testing

@testable import RecstreamRuntime

/// Small, fast models: d 8, one epoch, on a few thousand synthetic engagements.
enum ModelFixtures {
    static var configuration: EmbeddingConfiguration {
        var c = EmbeddingConfiguration()
        c.dimension = 8
        c.epochs = 1
        c.incrementalEpochs = 1
        c.batchSize = 64
        c.randomNegatives = 16
        c.minEngagements = 2
        return c
    }

    static func engagements(_ count: Int, seed: UInt64 = 3) -> [Engagement] {
        var s = SyntheticEngagementConfiguration()
        s.seed = seed
        s.users = 100
        s.items = 200
        s.communities = 4
        s.itemsPerCommunity = 50
        s.engagements = count
        return Array(SyntheticEngagements(s))
    }

    static func full(parent: EmbeddingModel? = nil, seed: UInt64 = 3) throws -> EmbeddingModel {
        let e = engagements(2_000, seed: seed)
        return try EmbeddingTrainer.fullRefresh(
            parent: parent, engagements: e, window: CooccurrenceWindow(end: e.last!.time, lengthMillis: 30 * 86_400_000),
            configuration: configuration)
    }

    static func incremental(_ served: EmbeddingModel, seed: UInt64) throws -> EmbeddingModel {
        try EmbeddingTrainer.incremental(served: served, engagements: engagements(300, seed: seed), configuration: configuration)
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("recstream-models-\(UUID().uuidString)").path
    }
}

@Suite("Model store: publish, rollback, retention, crash safety")
struct ModelStoreTests {
    @Test func publishWritesManifestModelAndCurrent() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let model = try ModelFixtures.full()
        let manifest = try store.publish(model, trainSeconds: 0.5).manifest
        #expect(manifest.version == "1.0")
        #expect(manifest.kind == "full")
        #expect(manifest.parent == nil)
        #expect(manifest.checksum.hasPrefix("murmur3-x64-128:") && manifest.checksum.count == 16 + 32)
        #expect(manifest.windowEndMillis - manifest.windowStartMillis == 30 * 86_400_000)
        #expect(manifest.usersWithVectors == model.users.vectorCount)
        #expect(store.current() == EmbeddingModelVersion(major: 1, minor: 0))
        #expect(try store.load(EmbeddingModelVersion(major: 1, minor: 0)) == model)
        #expect(store.versions().map(\.version) == ["1.0"])
        let json = try String(contentsOfFile: dir + "/1.0/manifest.json", encoding: .utf8)
        #expect(json.contains("\"kind\" : \"full\"") && json.contains("\"log_position\""))
        #expect(!FileManager.default.fileExists(atPath: dir + "/CURRENT.tmp"))
    }

    @Test func incrementalsGetTheNextMinorAndRollbackSwitchesCurrent() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let full = try ModelFixtures.full()
        try store.publish(full, trainSeconds: 0)
        let first = try ModelFixtures.incremental(full, seed: 11)
        try store.publish(first.renumbered(store.nextVersion(for: first)), trainSeconds: 0)
        #expect(store.current()?.description == "1.1")
        try store.switchCurrent(to: EmbeddingModelVersion(major: 1, minor: 0))
        #expect(store.loadServable().model?.metadata.version.description == "1.0")
        // Trained again from 1.0 after the rollback: 1.1 exists, so it is published as 1.2.
        let again = try ModelFixtures.incremental(full, seed: 12)
        #expect(again.metadata.version.description == "1.1")
        let numbered = again.renumbered(store.nextVersion(for: again))
        #expect(numbered.metadata.version.description == "1.2")
        #expect(numbered.metadata.parent?.description == "1.0")
        try store.publish(numbered, trainSeconds: 0)
        #expect(store.versions().map(\.version) == ["1.2", "1.1", "1.0"])
        #expect(store.newestFull()?.description == "1.0")
    }

    @Test func retentionKeepsTheNewestTheServedAndTheNewestFull() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        var served = try ModelFixtures.full()
        try store.publish(served, trainSeconds: 0)
        for seed in 20..<27 as Range<UInt64> {
            let next = try ModelFixtures.incremental(served, seed: seed)
            served = next.renumbered(store.nextVersion(for: next))
            try store.publish(served, trainSeconds: 0)
        }
        #expect(served.metadata.version.description == "1.7")
        // Rolled back to 1.2, which is not among the newest five.
        try store.switchCurrent(to: EmbeddingModelVersion(major: 1, minor: 2))
        let removed = store.applyRetention(keep: 5, served: EmbeddingModelVersion(major: 1, minor: 2))
        #expect(removed.sorted() == ["1.1"])
        #expect(store.versions().map(\.version) == ["1.7", "1.6", "1.5", "1.4", "1.3", "1.2", "1.0"])
    }

    @Test func aHalfWrittenVersionIsRemovedAtStartAndThePreviousOneServes() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let full = try ModelFixtures.full()
        try store.publish(full, trainSeconds: 0)
        // A crash inside publish: the temporary directory with part of model.bin, a renamed
        // directory whose manifest never landed, and a CURRENT.tmp never renamed.
        let bytes = try ModelFixtures.incremental(full, seed: 5).encode()
        try FileManager.default.createDirectory(atPath: dir + "/.tmp-1.1-deadbeef", withIntermediateDirectories: true)
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: dir + "/.tmp-1.1-deadbeef/model.bin"))
        try FileManager.default.createDirectory(atPath: dir + "/1.2", withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/1.2/model.bin"))
        try Data("1.2\n".utf8).write(to: URL(fileURLWithPath: dir + "/CURRENT.tmp"))

        let removed = try store.recover()
        #expect(removed == [".tmp-1.1-deadbeef", "1.2", "CURRENT.tmp"])
        let (model, problems) = store.loadServable()
        #expect(problems.isEmpty)
        #expect(model?.metadata.version.description == "1.0")
        #expect(store.versions().map(\.version) == ["1.0"])
    }

    @Test func aCorruptModelIsDetectedByChecksumAndNotServed() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let full = try ModelFixtures.full()
        try store.publish(full, trainSeconds: 0)
        let next = try ModelFixtures.incremental(full, seed: 9)
        try store.publish(next.renumbered(store.nextVersion(for: next)), trainSeconds: 0)
        // One flipped bit in the served version's model.bin.
        let file = URL(fileURLWithPath: dir + "/1.1/model.bin")
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: file)

        #expect(throws: ModelStore.Failure.self) { try store.load(EmbeddingModelVersion(major: 1, minor: 1)) }
        let (model, problems) = store.loadServable()
        #expect(model?.metadata.version.description == "1.0")
        #expect(problems.contains { $0.contains("checksum") })
        #expect(store.current()?.description == "1.0")
    }
}

@Suite("Embedding jobs over the committed engagement log")
struct EmbeddingJobsTests {
    /// Commits `engagements` (string ids u<n>, i<n>) the way ingest does: one drain, one batch.
    static func commit(_ engagements: [Engagement], into instance: inout InstanceState, _ repository: StateRepository) throws {
        for e in engagements {
            instance.apply(type: e.type, time: e.time, userID: "u\(e.user)", itemID: "i\(e.item)")
        }
        try repository.commit(instance.drainChanges())
    }

    @Test func incrementalReadsOnlyWhatWasCommittedSinceTheServedModelAndFullStartsANewMajor() async throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repository = try StateRepository(path: dir, syncWrites: false, eventsTopic: "t")
        defer { repository.close() }
        var instance = InstanceState(configuration: CooccurrenceConfiguration())
        let all = ModelFixtures.engagements(3_000, seed: 4)
        try Self.commit(Array(all[0..<1_000]), into: &instance, repository)
        try Self.commit(Array(all[1_000..<2_000]), into: &instance, repository)

        var settings = EmbeddingSettings()
        settings.model = ModelFixtures.configuration
        settings.threads = 2
        let metrics = TestMetrics()
        let jobs = EmbeddingJobs(
            repository: repository, slot: ServedModelSlot(), directory: dir + "/models", settings: settings,
            metricsFactory: metrics, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try jobs.loadAtStart()
        #expect(jobs.slot.load() == nil)

        // Cold start: the first incremental reads both commits.
        let first = try await jobs.train(kind: .incremental)
        #expect(first.published && first.engagementsRead == 2_000)
        #expect(first.manifest?.version == "0.1" && first.manifest?.logPosition == 2)
        #expect(jobs.slot.load()?.version.description == "0.1")

        // Nothing new: nothing published.
        let idle = try await jobs.train(kind: .incremental)
        #expect(!idle.published && idle.engagementsRead == 0)

        try Self.commit(Array(all[2_000...]), into: &instance, repository)
        let second = try await jobs.train(kind: .incremental)
        #expect(second.engagementsRead == 1_000)
        #expect(second.manifest?.version == "0.2" && second.manifest?.parent == "0.1" && second.manifest?.logPosition == 3)

        let full = try await jobs.train(kind: .full)
        #expect(full.manifest?.version == "1.0" && full.manifest?.kind == "full" && full.manifest?.parent == nil)
        #expect(full.engagementsRead == 3_000 && full.manifest?.logPosition == 3)
        #expect(jobs.slot.load()?.version.description == "1.0")
        #expect(try metrics.expectGauge("recstream_model_version", [("part", "major")]).lastValue == 1)
        #expect(try metrics.expectGauge("recstream_model_version", [("part", "minor")]).lastValue == 0)
        #expect(try metrics.expectTimer("recstream_job_duration_seconds", [("job", "embedding_incremental")]).values.count == 3)
        #expect(try metrics.expectTimer("recstream_job_duration_seconds", [("job", "embedding_full")]).values.count == 1)
        let served = try #require(jobs.slot.load())
        #expect(served.retriever.index.itemCount == served.model.items.vectorCount)
        // Published, then served from the file's mapping: nothing per id in the heap.
        #expect(served.model.isMapped && served.retriever.index.isMapped && served.model.approximateBytes == 0)

        let list = await jobs.models()
        #expect(list.served == "1.0" && list.models.map(\.version) == ["1.0", "0.2", "0.1"])
        let rolled = try await jobs.rollback(to: EmbeddingModelVersion(major: 0, minor: 2))
        #expect(rolled.served == "0.2" && jobs.store.current()?.description == "0.2")
        #expect(jobs.slot.load()?.model.isMapped == true)
        await #expect(throws: EmbeddingQueryError.self) { try await jobs.rollback(to: EmbeddingModelVersion(major: 7, minor: 0)) }

        // A restart serves CURRENT.
        let restarted = EmbeddingJobs(
            repository: repository, slot: ServedModelSlot(), directory: dir + "/models", settings: settings,
            metricsFactory: NOOPMetricsHandler.instance, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try restarted.loadAtStart()
        #expect(restarted.slot.load()?.version.description == "0.2")
        #expect(restarted.slot.load()?.model.isMapped == true)
    }

    @Test func theDailyFullRefreshWaitsForTheNextConfiguredMinute() {
        // 2026-01-01T02:00:00Z; 03:00 is an hour away, 01:00 is tomorrow.
        let now = Date(timeIntervalSince1970: 1_767_232_800)
        #expect(EmbeddingScheduleService.untilNext(minuteOfDay: 180, now: now) == .seconds(3_600))
        #expect(EmbeddingScheduleService.untilNext(minuteOfDay: 60, now: now) == .seconds(23 * 3_600))
    }

    @Test func embeddingKeysParseAndRefuseBadValues() throws {
        var c = RecstreamConfiguration()
        try ConfigurationKeys.apply("embedding.full_refresh_time", "04:30", to: &c)
        try ConfigurationKeys.apply("embedding.incremental_interval_ms", "60000", to: &c)
        try ConfigurationKeys.apply("embedding.dimension", "16", to: &c)
        let s = try c.embedding()
        #expect(s.fullRefreshMinuteOfDay == 270 && s.incrementalIntervalMillis == 60_000 && s.model.dimension == 16)
        #expect(throws: ConfigurationError.self) { try ConfigurationKeys.apply("embedding.full_refresh_time", "25:00", to: &c) }
        try ConfigurationKeys.apply("embedding.dimension", "12", to: &c)
        #expect(c.validate().contains { $0.contains("dimension") })
    }
}
