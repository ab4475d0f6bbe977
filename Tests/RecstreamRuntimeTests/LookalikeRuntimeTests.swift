import Foundation
import Logging
import Metrics
import MetricsTestKit
import RecstreamCore
import RecstreamStorage
import Testing

@testable import RecstreamRuntime

@Suite("Look-alike in the runtime")
struct LookalikeRuntimeTests {
    static func configuration(seedsPerItem: Int, minimumSeeds: Int) -> RecstreamConfiguration {
        var c = RecstreamConfiguration()
        c.lookalikeOverrides = ["seeds_per_item": "\(seedsPerItem)", "minimum_seeds": "\(minimumSeeds)"]
        return c
    }

    static func write(_ changes: StateChanges, to store: StateStore) throws {
        var batch = WriteBatch()
        for range in changes.rangeDeletes { batch.deleteRange(from: range.from, to: range.to) }
        for key in changes.deletes { batch.delete(key) }
        for put in changes.puts { batch.put(put.key, put.value) }
        try store.write(batch)
    }

    /// Seed lists go through the store in the instance state's commits and come back in the
    /// canonical dump (the one the crash tests compare) exactly as the live state holds them.
    @Test func seedListsRoundTripThroughTheStoreIntoTheDump() throws {
        let configuration = Self.configuration(seedsPerItem: 3, minimumSeeds: 2)
        var instance = InstanceState(configuration: .default, lookalike: try configuration.lookalike())
        func click(_ user: String, _ item: String, _ millis: Int64) {
            instance.apply(type: .click, time: EventTime(millis: millis), userID: user, itemID: item)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "recstream-seeds-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try StateStore(path: directory)
        click("u1", "a", 1_000)
        click("u2", "a", 2_000)
        click("u2", "b", 2_500)
        try Self.write(instance.drainChanges(), to: store)
        // u1 returns (moves to the newest place); u4 is the fourth distinct user and evicts the
        // oldest, u2; an exposure is no engagement.
        click("u3", "a", 3_000)
        click("u1", "a", 4_000)
        click("u4", "a", 5_000)
        instance.apply(type: .exposure, time: EventTime(millis: 5_100), userID: "u9", itemID: "b")
        try Self.write(instance.drainChanges(), to: store)
        var marks = 0
        try store.scan(prefix: [InstanceState.marker, InstanceState.seedKind, LookalikeKeys.summaryPending]) { _, _ in
            marks += 1
            return true
        }
        store.close()
        #expect(marks == 0, "summary marks are derived state, not persisted")

        let expected = ["seeds item=a n=3 [u4:5000 u1:4000 u3:3000]", "seeds item=b n=1 [u2:2500]"]
        #expect(instance.seedDumpLines() == expected)
        let dumped = try Runtime.dumpCommittedState(stateDirectory: directory, configuration: configuration)
        #expect(dumped.filter { $0.hasPrefix("seeds ") } == expected)
        let seeds = try #require(instance.seeds(itemID: "a"))
        #expect(seeds.seeds.map(\.userID) == ["u4", "u1", "u3"])
        #expect(seeds.count == 3 && seeds.passesGate)
        #expect(instance.seeds(itemID: "b")?.passesGate == false)
    }

    /// A model with a vector for users 0..<count: user u points along axis u % 4 plus a little of
    /// axis 4 + u % 4 (d = 8).
    static func model(users count: Int, minor: UInt32) -> ServedModel {
        var vectors = DenseUserVectors(dimension: 8, version: 0)
        for u in 0..<count {
            var v = [Float](repeating: 0, count: 8)
            v[u % 4] = 1
            v[4 + u % 4] = Float(u % 7) / 10
            vectors.set(user: Int32(u), v)
        }
        let model = EmbeddingModel.withUserVectors(vectors, version: EmbeddingModelVersion(major: 1, minor: minor))
        return ServedModel(model: model, retriever: EmbeddingRetriever(model: model))
    }

    /// Five items with six seeds each and one with a single seed; users u0..u9 interned first, so
    /// their indices are 0..9.
    static func engine(_ configuration: RecstreamConfiguration) throws -> StateEngine {
        var instance = InstanceState(configuration: .default, lookalike: try configuration.lookalike())
        var time: Int64 = 1_000
        for u in 0..<10 {
            instance.apply(type: .like, time: EventTime(millis: time), userID: "u\(u)", itemID: "warm-up")
        }
        for item in 0..<5 {
            for u in 0..<6 {
                time += 1
                instance.apply(
                    type: .click, time: EventTime(millis: time), userID: "u\((u + item) % 10)", itemID: "i\(item)")
            }
        }
        instance.apply(type: .click, time: EventTime(millis: time + 1), userID: "u0", itemID: "cold")
        return StateEngine(configuration: configuration, version: "test", bootstrapServers: "", instance: instance)
    }

    @Test func scoresAndExpansionAnswerNoModelUntilOneIsInstalled() async throws {
        let configuration = Self.configuration(seedsPerItem: 10, minimumSeeds: 3)
        let engine = try Self.engine(configuration)
        let lookalike = LookalikeEngine(
            engine: engine, models: ServedModelSlot(), configuration: try configuration.lookalike())
        #expect(throws: LookalikeEngine.noModel()) { try lookalike.score(userID: "u1", itemIDs: ["i0"]) }
        await #expect(throws: LookalikeEngine.noModel()) {
            try await lookalike.expand(ExpansionRequest(itemID: "i0", seedUserIDs: nil, k: 5, exact: false))
        }
        #expect(LookalikeEngine.noModel().description.contains("no embedding model is installed"))
        // Seeds need no model.
        #expect(lookalike.seeds(itemID: "i0", limit: 100)?.count == 6)
        #expect(lookalike.seeds(itemID: "nope", limit: 100) == nil)
    }

    @Test func summaryJobRebuildsOnlyChangedItemsAndEverythingOnANewModelVersion() async throws {
        let configuration = Self.configuration(seedsPerItem: 10, minimumSeeds: 3)
        let engine = try Self.engine(configuration)
        let models = ServedModelSlot()
        let lookalike = LookalikeEngine(engine: engine, models: models, configuration: try configuration.lookalike())
        let metrics = TestMetrics()
        let job = LookalikeSummaryJob(lookalike: lookalike, metricsFactory: metrics, logger: Logger(label: "test"))

        // No model: nothing built, the gate still counted.
        var report = try await job.run()
        #expect(report.modelVersion == nil && report.items == 0 && report.itemsPastGate == 6)

        models.install(Self.model(users: 10, minor: 0))
        report = try await job.run()
        // Every item with seeds: six past the gate (warm-up too) get a summary, "cold" none.
        #expect(report.everyItem && report.items == 7 && report.summaries == 6 && report.indexRebuilt)
        #expect(try metrics.expectGauge("recstream_lookalike_items_past_gate").lastValue == 6)

        let scores = try lookalike.score(userID: "u1", itemIDs: ["i0", "cold", "unknown", "i3"])
        #expect(scores.items.map(\.status) == [.scored, .belowMinimumSeeds, .belowMinimumSeeds, .scored])
        #expect(scores.items.map(\.seedCount) == [6, 1, 0, 6])
        #expect(scores.modelVersion == "1.0")
        #expect(scores.items[0].score.map { $0 > -1.001 && $0 < 1.001 } == true)

        report = try await job.run()
        #expect(!report.everyItem && report.items == 0 && !report.indexRebuilt)

        // One item gains a seed, another an engagement that changes nothing (not newer).
        engine.lock.withLock {
            engine.state.instance.apply(type: .like, time: EventTime(millis: 9_000), userID: "u9", itemID: "i2")
            engine.state.instance.apply(type: .like, time: EventTime(millis: 1_001), userID: "u0", itemID: "i0")
        }
        report = try await job.run()
        #expect(!report.everyItem && report.items == 1 && report.summaries == 6)

        models.install(Self.model(users: 10, minor: 1))
        let stale = try lookalike.score(userID: "u1", itemIDs: ["i0"])
        #expect(stale.items[0].status == .awaitingSummary, "summaries of another model version are not used")
        report = try await job.run()
        #expect(report.everyItem && report.items == 7 && report.indexRebuilt && report.modelVersion == "1.1")
        #expect(try lookalike.score(userID: "u1", itemIDs: ["i0"]).items[0].status == .scored)

        // Expansion: IVF and exact agree on this tiny population; seeds are never proposed.
        let seeds = Set(try #require(lookalike.seeds(itemID: "i0", limit: 100)).seeds.map(\.userID))
        let exact = try await lookalike.expand(ExpansionRequest(itemID: "i0", seedUserIDs: nil, k: 3, exact: true))
        let viaIndex = try await lookalike.expand(ExpansionRequest(itemID: "i0", seedUserIDs: nil, k: 3, exact: false))
        #expect(exact.method == "exact" && viaIndex.method == "ivf")
        #expect(exact.users.count == 3 && seeds.isDisjoint(with: exact.users.map(\.userID)))
        #expect(Set(viaIndex.users.map(\.userID)).isSubset(of: Set((0..<10).map { "u\($0)" }).subtracting(seeds)))
        let explicit = try await lookalike.expand(
            ExpansionRequest(itemID: nil, seedUserIDs: ["u0", "u4", "nobody"], k: 2, exact: true))
        #expect(explicit.unknownSeeds == 1 && explicit.users.count == 2)
        await #expect(throws: LookalikeQueryError.coldStart("item cold has 1 seeds, below the cold-start gate of 3")) {
            try await lookalike.expand(ExpansionRequest(itemID: "cold", seedUserIDs: nil, k: 2, exact: true))
        }
    }
}
