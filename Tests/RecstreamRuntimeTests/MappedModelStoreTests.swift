import Foundation
import RecstreamCore
import Testing

@testable import RecstreamRuntime

/// The model store maps what it serves: a published version is read in place from its file, a
/// format-1 version (published before format 2) is still decoded and served, and a truncated or
/// damaged file is refused with a reason.
@Suite("Model store: served from the file's mapping")
struct MappedModelStoreTests {
    static func retrievals(_ retriever: EmbeddingRetriever, users: Int) -> [String] {
        (Int32(-1)..<Int32(users + 1)).map { user in
            let r = retriever.retrieve(user: user, k: 20)
            return r.source.description + r.items.map { " \($0.item):\($0.score.bitPattern)" }.joined()
        }
    }

    @Test func aPublishedVersionIsServedFromItsMappingWithTheSameAnswers() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let model = try ModelFixtures.full()
        let heap = EmbeddingRetriever(model: model)
        let publication = try store.publish(model, index: heap.index, trainSeconds: 0)
        let served = try #require(publication.model)
        #expect(served.isMapped && served == model && served.approximateBytes == 0)
        let retriever = EmbeddingRetriever(model: served)
        #expect(retriever.index.isMapped)
        #expect(Self.retrievals(retriever, users: model.users.idLimit) == Self.retrievals(heap, users: model.users.idLimit))
        let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/1.0/model.bin"))
        #expect(file[4] == EmbeddingModel.formatVersion && file.count == publication.manifest.bytes)
        #expect(store.loadServable().model?.isMapped == true)

        // Retention deletes whole directories; a mapping still being read stays valid.
        try FileManager.default.removeItem(atPath: dir + "/1.0")
        #expect(Self.retrievals(retriever, users: model.users.idLimit) == Self.retrievals(heap, users: model.users.idLimit))
        #expect(served.users.vector(0) == model.users.vector(0))
    }

    @Test func aFormat1VersionStillLoadsAndIsServedDecoded() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let full = try ModelFixtures.full()
        try store.publishFormat1(full)
        let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/1.0/model.bin"))
        #expect(file[4] == EmbeddingModel.format1)
        let (loaded, problems) = store.loadServable()
        #expect(problems.isEmpty)
        let old = try #require(loaded)
        #expect(!old.isMapped && old == full)
        #expect(
            Self.retrievals(EmbeddingRetriever(model: old), users: full.users.idLimit)
                == Self.retrievals(EmbeddingRetriever(model: full), users: full.users.idLimit))
        // The next update trains from it and is published in format 2, served mapped.
        let next = try ModelFixtures.incremental(old, seed: 13)
        let publication = try store.publish(next.renumbered(store.nextVersion(for: next)), trainSeconds: 0)
        #expect(publication.model?.isMapped == true && publication.manifest.version == "1.1")
        #expect(store.loadServable().model?.metadata.version.description == "1.1")
    }

    @Test func aTruncatedOrDamagedFileIsRefusedWithItsReason() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ModelStore(directory: dir)
        let manifest = try store.publish(try ModelFixtures.full(), trainSeconds: 0).manifest
        let version = EmbeddingModelVersion(major: 1, minor: 0)
        let url = URL(fileURLWithPath: dir + "/1.0/model.bin")
        let bytes = [UInt8](try Data(contentsOf: url))

        func failure() -> String {
            do {
                _ = try store.load(version)
                return "loaded"
            } catch {
                return error.description
            }
        }

        let half = Array(bytes.prefix(bytes.count / 2))
        try Data(half).write(to: url)
        #expect(failure() == "model 1.0: model.bin has \(half.count) bytes, the manifest says \(bytes.count)")

        var flipped = bytes
        flipped[bytes.count / 3] ^= 0x01
        try Data(flipped).write(to: url)
        #expect(failure().hasPrefix("model 1.0: checksum murmur3-x64-128:"))
        #expect(failure().hasSuffix("differs from the manifest's \(manifest.checksum)"))

        // Truncated and a manifest rewritten to agree with it: the layout check refuses it.
        try Data(half).write(to: url)
        var rewritten = manifest
        rewritten.bytes = half.count
        rewritten.checksum = ModelStore.checksum(half)
        try ModelStore.encode(rewritten).write(to: URL(fileURLWithPath: dir + "/1.0/manifest.json"))
        let refused = failure()
        #expect(refused.hasPrefix("model 1.0: state record is malformed: "), "\(refused)")

        // Nothing to serve: the damaged version is skipped with its reason.
        let (model, problems) = store.loadServable()
        #expect(model == nil && problems == [refused])

        try FileManager.default.removeItem(at: url)
        #expect(failure() == "model 1.0: model.bin is missing")
    }

    @Test func theFileChecksumIsReadThroughABufferAndMatchesTheWholeFileHash() throws {
        let dir = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let seed: UInt64 = 71
        print("file checksum: seed \(seed)")
        var random = Xoshiro256StarStar(seed: seed)
        for length in [1, 16, (1 << 20) - 1, 1 << 20, (1 << 20) + 17, 3 << 20] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/f"))
            let (size, sum) = try ModelStore.checksum(file: dir + "/f")
            #expect(size == length && sum == ModelStore.checksum(bytes), "length \(length)")
        }
    }
}
