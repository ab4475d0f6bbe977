import Foundation
import Logging
import Metrics
import MetricsTestKit
import RecstreamCore
import Testing

@testable import RecstreamRuntime

/// One instance's state directory: the committed engagement log and `models/`.
struct GateFixture {
    let directory: String
    let repository: StateRepository
    var instance = InstanceState(configuration: CooccurrenceConfiguration())

    /// An empty instance in a fresh temporary directory.
    init() throws {
        directory = ModelFixtures.temporaryDirectory()
        repository = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
    }

    /// A log with community structure a model can learn: 400 users, 1,000 items in 10
    /// communities of 100, `count` engagements (seed 17), committed in four batches.
    static let engagementSeed: UInt64 = 17
    static func structured(_ count: Int = 20_000) -> [Engagement] {
        var s = SyntheticEngagementConfiguration()
        s.seed = engagementSeed
        s.users = 400
        s.items = 1_000
        s.communities = 10
        s.itemsPerCommunity = 100
        s.engagements = count
        return Array(SyntheticEngagements(s))
    }

    mutating func commit(_ engagements: [Engagement], batches: Int = 4) throws {
        let size = max((engagements.count + batches - 1) / batches, 1)
        for start in stride(from: 0, to: engagements.count, by: size) {
            try EmbeddingJobsTests.commit(
                Array(engagements[start..<min(start + size, engagements.count)]), into: &instance, repository)
        }
    }

    /// Settings of a model that learns the communities: d 8, 3 epochs (seed 1).
    static var good: EmbeddingSettings {
        var s = EmbeddingSettings()
        s.model = ModelFixtures.configuration
        s.model.epochs = 3
        s.threads = 1
        return s
    }

    /// A forced bad configuration: another dimension (so the full refresh starts from nothing) and
    /// no epoch, so the vectors stay at their random initialisation.
    static var degraded: EmbeddingSettings {
        var s = good
        s.model.dimension = 16
        s.model.epochs = 0
        return s
    }

    /// Embedding jobs over this directory (a new value is a restart: it serves `CURRENT`).
    func jobs(_ settings: EmbeddingSettings, metrics: any MetricsFactory = NOOPMetricsHandler.instance) throws -> EmbeddingJobs {
        let jobs = EmbeddingJobs(
            repository: repository, slot: ServedModelSlot(), directory: directory + "/models", settings: settings,
            metricsFactory: metrics, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try jobs.loadAtStart()
        return jobs
    }

    func remove() {
        repository.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A served good full model 1.0 and a degraded full refresh over the same log: the second one's
    /// report. Both models are deterministic (engagement seed 17, embedding seed 1, one thread).
    static func goodThenDegraded(force: Bool) async throws -> (GateFixture, TrainingReport) {
        var fixture = try GateFixture()
        try fixture.commit(structured())
        print("publish gate: engagement seed \(engagementSeed), embedding seed \(GateFixture.good.model.seed)")
        let good = try await fixture.jobs(GateFixture.good).train(kind: .full)
        #expect(good.served && good.manifest?.version == "1.0", "\(good.message)")
        let degraded = try await fixture.jobs(GateFixture.degraded).train(kind: .full, force: force)
        print("  good: \(good.message)\n  degraded: \(degraded.message)")
        return (fixture, degraded)
    }
}

@Suite("Publish gate: no empty or clearly worse model replaces a good one", .serialized)
struct PublishGateTests {
    @Test func aFullRefreshOfAnEmptyLogPublishesNothingAndThePreviousModelStaysServed() async throws {
        var before = try GateFixture()
        defer { before.remove() }
        try before.commit(GateFixture.structured())
        let first = try await before.jobs(GateFixture.good).train(kind: .full)
        #expect(first.served && first.manifest?.version == "1.0", "\(first.message)")

        // The same models directory over an empty log (a state reset, or a new instance).
        let after = try GateFixture()
        defer { after.remove() }
        try FileManager.default.copyItem(atPath: before.directory + "/models", toPath: after.directory + "/models")
        let metrics = TestMetrics()
        let jobs = try after.jobs(GateFixture.good, metrics: metrics)
        #expect(jobs.slot.load()?.version.description == "1.0")

        let report = try await jobs.train(kind: .full)
        #expect(!report.published && !report.served && report.examples == 0 && report.manifest == nil)
        #expect(
            report.message
                == "full refresh: 0 training examples (distinct user-item positives), below embedding.min_examples=1000; "
                + "nothing published, model 1.0 stays served")
        #expect(jobs.slot.load()?.version.description == "1.0")
        #expect(jobs.store.versions().map(\.version) == ["1.0"] && jobs.store.current()?.description == "1.0")
        #expect(try metrics.expectCounter("recstream_model_not_served_total", [("reason", "min_examples")]).totalValue == 1)
    }

    @Test func aFirstModelNeedsTheMinimumAndItsEngagementsWaitInTheLogUntilThen() async throws {
        var fixture = try GateFixture()
        defer { fixture.remove() }
        var settings = GateFixture.good
        settings.minExamples = 5_000
        let all = GateFixture.structured()
        try fixture.commit(Array(all[..<2_000]), batches: 1)
        let jobs = try fixture.jobs(settings)

        let full = try await jobs.train(kind: .full)
        #expect(!full.published && full.message.hasPrefix("full refresh: ") && full.message.hasSuffix("no model is served"))
        let early = try await jobs.train(kind: .incremental)
        #expect(!early.published && early.examples > 0 && early.examples < 5_000, "\(early.message)")
        #expect(early.message.contains("below embedding.min_examples=5000") && early.message.contains("stay in the log"))
        #expect(jobs.slot.load() == nil && jobs.store.versions().isEmpty)

        // Once enough has arrived, the first model trains on everything committed so far.
        try fixture.commit(Array(all[2_000...]), batches: 1)
        let later = try await jobs.train(kind: .incremental)
        #expect(later.served && later.examples >= 5_000, "\(later.message)")
        #expect(later.engagementsRead == all.count && later.manifest?.version == "0.1")

        // With a model served, a quiet interval's update has no minimum: it only moves what it touches.
        try fixture.commit(Array(GateFixture.structured(20_010)[20_000...]), batches: 1)
        let quiet = try await jobs.train(kind: .incremental)
        #expect(quiet.published && quiet.served && quiet.manifest?.version == "0.2", "\(quiet.message)")
    }

    @Test func aModelClearlyWorseOnHeldOutEngagementsIsWrittenButNotServed() async throws {
        let (fixture, report) = try await GateFixture.goodThenDegraded(force: false)
        defer { fixture.remove() }
        let manifest = try #require(report.manifest)
        let evaluation = try #require(manifest.evaluation)
        let served = try #require(evaluation.servedValue)
        // Both scored on the same held-out pairs, which neither trained on.
        #expect(evaluation.servedVersion == "1.0" && evaluation.users >= PublishGate.minimumUsers)
        #expect(evaluation.value < served * 0.8, "\(evaluation)")
        #expect(report.published && !report.served && manifest.version == "2.0")
        #expect(manifest.gate?.decision == ModelGateVerdict.heldBack)
        #expect(manifest.gate?.reason.hasPrefix("recall@50 ") == true)
        #expect(manifest.gate?.reason.contains("of served 1.0") == true)
        #expect(manifest.gate?.reason.hasSuffix("over embedding.max_regression=0.2") == true, "\(manifest.gate?.reason ?? "")")
        #expect(report.message.contains("1.0 stays served") && report.message.contains("recstream admin rollback 2.0"))

        let store = ModelStore(directory: fixture.directory + "/models")
        #expect(store.current()?.description == "1.0")
        #expect(store.versions().map(\.version) == ["2.0", "1.0"])
        // The next full refresh starts from 1.0, not from the held-back 2.0.
        #expect(store.newestFull()?.description == "1.0")
    }

    @Test func aFullRefreshAsGoodAsTheServedModelIsServed() async throws {
        var fixture = try GateFixture()
        defer { fixture.remove() }
        try fixture.commit(GateFixture.structured())
        let jobs = try fixture.jobs(GateFixture.good)
        _ = try await jobs.train(kind: .full)
        let again = try await jobs.train(kind: .full)
        print("publish gate, same data again: \(again.message)")
        #expect(again.served && jobs.slot.load()?.version.description == "2.0", "\(again.message)")
        #expect(again.manifest?.gate?.decision == ModelGateVerdict.served)
        #expect(again.manifest?.gate?.reason.hasSuffix("within embedding.max_regression=0.2") == true)
    }

    @Test func forceServesAModelTheGateWouldHoldBack() async throws {
        let (fixture, report) = try await GateFixture.goodThenDegraded(force: true)
        defer { fixture.remove() }
        #expect(report.published && report.served, "\(report.message)")
        #expect(report.manifest?.gate?.decision == ModelGateVerdict.forced)
        #expect(report.message.hasPrefix("published and served 2.0, forced past the gate: recall@50 "))
        let restarted = try fixture.jobs(GateFixture.degraded)
        #expect(restarted.slot.load()?.version.description == "2.0")
        let listed = await restarted.models()
        #expect(listed.models.first?.status?.hasPrefix("served, forced past the gate: ") == true)
    }

    @Test func aHeldBackVersionIsListedWithItsReasonAfterARestart() async throws {
        let (fixture, report) = try await GateFixture.goodThenDegraded(force: false)
        defer { fixture.remove() }
        let reason = try #require(report.manifest?.gate?.reason)

        let restarted = try fixture.jobs(GateFixture.good)
        #expect(restarted.slot.load()?.version.description == "1.0")
        let list = await restarted.models()
        #expect(list.served == "1.0")
        let held = try #require(list.models.first { $0.version == "2.0" })
        #expect(held.served == false)
        #expect(
            held.status
                == "held back: \(reason); serve it with `recstream admin rollback 2.0` (or train again with `recstream train --force`)")
        #expect(held.evaluation == report.manifest?.evaluation)
        let good = try #require(list.models.first { $0.version == "1.0" })
        #expect(good.served == true && good.status == "served")
        // What the admin route answers: the listing fields, and no listing field in manifest.json.
        let json = try String(contentsOfFile: fixture.directory + "/models/2.0/manifest.json", encoding: .utf8)
        #expect(json.contains("\"held_back\"") && json.contains("\"served_value\"") && !json.contains("\"status\""))

        // A rollback serves it on purpose; then the good one is the one not served.
        let rolled = try await restarted.rollback(to: EmbeddingModelVersion(major: 2, minor: 0))
        #expect(rolled.served == "2.0" && rolled.models.first { $0.version == "2.0" }?.status == "served")
        #expect(rolled.models.first { $0.version == "1.0" }?.status == "replaced by a newer version (serving 2.0)")
    }

    @Test func aServedModelFromBeforeTheSplitIsNotComparedAgainst() async throws {
        var fixture = try GateFixture()
        defer { fixture.remove() }
        try fixture.commit(GateFixture.structured())
        _ = try await fixture.jobs(GateFixture.good).train(kind: .full)
        // 1.0 as a manifest written before the publish gate existed reads it: no gate, no evaluation,
        // no split marker (and such a manifest still decodes: the version is kept and served).
        let file = URL(fileURLWithPath: fixture.directory + "/models/1.0/manifest.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        for key in ["gate", "evaluation", "excludes_held_out"] { object[key] = nil }
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: file)

        let jobs = try fixture.jobs(GateFixture.degraded)
        #expect(jobs.slot.load()?.version.description == "1.0")
        let report = try await jobs.train(kind: .full)
        #expect(report.served, "\(report.message)")
        #expect(report.manifest?.gate?.reason.hasPrefix("not compared: served 1.0 comes from a model trained before") == true)
        // A full refresh retrains every vector without the held-out pairs: the next one is compared with it.
        #expect(report.manifest?.excludesHeldOut == true)
    }

    @Test func aDamagedCurrentFallsBackToAServableVersionNotAHeldBackOne() async throws {
        let (fixture, _) = try await GateFixture.goodThenDegraded(force: false)
        defer { fixture.remove() }
        let store = ModelStore(directory: fixture.directory + "/models")
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: fixture.directory + "/models/CURRENT"))
        let (model, problems) = store.loadServable()
        #expect(model?.metadata.version.description == "1.0", "\(problems)")
        #expect(store.current()?.description == "1.0")
    }

    // Hand-computed: a drop of (0.30 − 0.20) / 0.30 = 33% is over 0.2; with a standard error of 0.05
    // (two: 10%) the drop is still 23% over, with 0.1 (two: 20%) only 13% and not clearly over;
    // (0.30 − 0.25) / 0.30 = 17% is within; with 29 users (under 30) nothing is compared, nor
    // against a served value of 0.
    @Test(arguments: [
        (0.20, 0.30, 100, nil, false, ModelGateVerdict.heldBack),
        (0.20, 0.30, 100, nil, true, ModelGateVerdict.forced),
        (0.20, 0.30, 100, 0.05, false, ModelGateVerdict.heldBack),
        (0.20, 0.30, 100, 0.1, false, ModelGateVerdict.served),
        (0.25, 0.30, 100, nil, false, ModelGateVerdict.served),
        (0.40, 0.30, 100, nil, false, ModelGateVerdict.served),
        (0.00, 0.30, 29, nil, false, ModelGateVerdict.served),
        (0.00, 0.00, 100, nil, false, ModelGateVerdict.served),
    ] as [(Double, Double, Int, Double?, Bool, String)])
    func theVerdictHoldsBackARelativeDropClearlyOverMaxRegression(
        value: Double, served: Double, users: Int, standardError: Double?, force: Bool, decision: String
    ) {
        var settings = EmbeddingSettings()
        settings.maxRegression = 0.2
        let gate = PublishGate(settings: settings)
        let evaluation = ModelEvaluation(
            metric: "recall@50", users: users, pairs: users * 2, value: value, servedVersion: "1.3", servedValue: served,
            relativeChangeStandardError: standardError)
        let verdict = gate.verdict(evaluation, force: force)
        #expect(verdict.decision == decision, "\(verdict.reason)")
        if decision == ModelGateVerdict.heldBack && standardError == 0.05 {
            #expect(
                verdict.reason
                    == "recall@50 0.2000 vs 0.3000 of served 1.3 (-33% ± 10%) on 100 held-out users, over embedding.max_regression=0.2")
        }
        if standardError == 0.1 { #expect(verdict.reason.hasSuffix("not clearly over embedding.max_regression=0.2 (within two standard errors)")) }
        let cold = ModelEvaluation(metric: "recall@50", users: users, pairs: users, value: value, servedVersion: nil, servedValue: nil)
        #expect(gate.verdict(cold, force: false).decision == ModelGateVerdict.served)
    }

    // Per-user recalls 0.5, 0.3, 0.1 against 0.5, 0.5, 0.5: means 0.3 and 0.5, differences 0, −0.2,
    // −0.4 (mean −0.2, sample variance 0.04), standard error √(0.04 / 3) / 0.5 = 0.2309.
    @Test func theEvaluationPairsUsersAndMeasuresTheNoiseOfTheChange() throws {
        let e = ModelEvaluation(metric: "recall@50", pairs: 4, values: [0.5, 0.3, 0.1], served: ("1.0", [0.5, 0.5, 0.5]))
        #expect(e.users == 3 && abs(e.value - 0.3) < 1e-12 && abs((e.servedValue ?? 0) - 0.5) < 1e-12)
        #expect(abs((e.relativeChange ?? 0) + 0.4) < 1e-12)
        #expect(abs((e.relativeChangeStandardError ?? 0) - 0.230_940_107_7) < 1e-9)
    }

    @Test func gateKeysParseAndRefuseBadValues() throws {
        var c = RecstreamConfiguration()
        let defaults = try c.embedding()
        #expect(defaults.minExamples == 1_000 && defaults.maxRegression == 0.2)
        try ConfigurationKeys.apply("embedding.min_examples", "50", to: &c)
        try ConfigurationKeys.apply("embedding.max_regression", "0.35", to: &c)
        let s = try c.embedding()
        #expect(s.minExamples == 50 && s.maxRegression == 0.35)
        #expect(throws: ConfigurationError.self) { try ConfigurationKeys.apply("embedding.max_regression", "1.5", to: &c) }
        #expect(throws: ConfigurationError.self) { try ConfigurationKeys.apply("embedding.min_examples", "-1", to: &c) }
    }
}
