import RecstreamCore
import Testing

/// Format 2 read in place (``EmbeddingModel/open(_:verifiesChecksum:)`` over ``ModelBytes``)
/// against the same model decoded into the heap, format 1 still read, damaged blobs refused.
@Suite("Embeddings: models read in place")
struct MappedModelTests {
    /// A trained model with users and items with vectors, users below the threshold with fallback
    /// lists, and ids never seen (gaps in the id range).
    static func model(seed: UInt64) throws -> EmbeddingModel {
        var stream = embeddingStream(seed: seed, users: 60, items: 80, engagements: 1_500)
        let t = stream.last?.time.millis ?? 0
        for (k, (user, item)) in [(Int32(90), Int32(3)), (90, 9), (91, 4), (95, 70)].enumerated() {
            stream.append(Engagement(user: user, item: item, type: .click, time: EventTime(millis: t + Int64(k) + 1)))
        }
        var c = smallEmbeddingConfiguration(seed: seed)
        c.minEngagements = 3
        c.ivfLists = 6
        c.ivfProbes = 2
        return try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c, logPosition: 5)
    }

    /// Items with the bits of their scores, and the source: equal only when identical.
    static func scored(_ r: EmbeddingRetriever.Retrieval) -> [String] {
        r.items.map { "\($0.item):\($0.score.bitPattern)" } + [r.source.description]
    }

    @Test(arguments: [41, 42, 43] as [UInt64])
    func aMappedModelAnswersExactlyAsTheDecodedOne(seed: UInt64) throws {
        print("mapped against decoded: model seed \(seed)")
        let model = try Self.model(seed: seed)
        let bytes = model.encode()
        let mapped = try EmbeddingModel.open(ModelBytes(copying: bytes))
        let decoded = try EmbeddingModel.decode(bytes)
        #expect(mapped.isMapped && mapped.users.isMapped && mapped.items.isMapped)
        #expect(!decoded.isMapped)
        #expect(mapped.approximateBytes == 0)
        #expect(mapped == model && decoded == model)
        #expect(mapped.metadata == model.metadata && mapped.configuration == model.configuration)
        #expect(mapped.fallbackUserCount == model.fallbackUserCount && mapped.fallbackUserCount >= 2)

        // Vectors, counts and fallback lists by id, past both ends of the id range.
        var a: [Float] = []
        var b: [Float] = []
        for id in Int32(-2)..<Int32(model.users.idLimit + 3) {
            #expect(mapped.users.vector(id) == decoded.users.vector(id))
            #expect(mapped.users.unitVector(id) == decoded.users.unitVector(id))
            #expect(mapped.users.accumulator(id) == decoded.users.accumulator(id))
            #expect(mapped.users.engagements(id) == decoded.users.engagements(id))
            #expect(mapped.users.lastSeen(id) == decoded.users.lastSeen(id))
            #expect(mapped.fallbackItems(user: id) == decoded.fallbackItems(user: id))
            #expect(mapped.queryVector(user: id)?.vector == decoded.queryVector(user: id)?.vector)
            #expect(mapped.queryVector(user: id)?.source == decoded.queryVector(user: id)?.source)
            #expect(mapped.users.copyVector(id, into: &a) == decoded.users.copyVector(id, into: &b) && a == b)
            for item in Int32(0)..<Int32(model.items.idLimit) {
                #expect(mapped.score(user: id, item: item) == decoded.score(user: id, item: item))
            }
        }
        for id in Int32(-2)..<Int32(model.items.idLimit + 3) {
            #expect(mapped.items.vector(id) == decoded.items.vector(id))
            #expect(mapped.items.engagements(id) == decoded.items.engagements(id))
        }
        #expect(mapped.users.idsWithVectors == decoded.users.idsWithVectors)
        #expect(mapped.items.idsWithVectors == decoded.items.idsWithVectors)

        // Retrieval: the stored index read in place against the index rebuilt in the heap.
        let inPlace = EmbeddingRetriever(model: mapped)
        let rebuilt = EmbeddingRetriever(model: decoded)
        let original = EmbeddingRetriever(model: model)
        #expect(inPlace.index.isMapped && !rebuilt.index.isMapped)
        #expect(inPlace.index.listSizes == rebuilt.index.listSizes)
        let excluded: (Int32) -> Bool = { $0 % 7 == 3 }
        for user in Int32(-1)..<Int32(model.users.idLimit + 2) {
            for probes in [nil, 1, 6] as [Int?] {
                let x = Self.scored(inPlace.retrieve(user: user, k: 12, excluding: excluded, probes: probes))
                #expect(x == Self.scored(rebuilt.retrieve(user: user, k: 12, excluding: excluded, probes: probes)))
                #expect(x == Self.scored(original.retrieve(user: user, k: 12, excluding: excluded, probes: probes)))
            }
            let exact = Self.scored(inPlace.retrieve(user: user, k: 30, exact: true))
            #expect(exact == Self.scored(rebuilt.retrieve(user: user, k: 30, exact: true)))
        }
        // Look-alike reads the user side through the same table API.
        #expect(EmbeddingUserVectors(mapped).userCount == model.users.idLimit)

        // Back to the heap: the same content, and the same bytes again.
        #expect(mapped.materialized() == model)
        #expect(!mapped.materialized().isMapped)
        #expect(mapped.materialized().encode() == bytes)
    }

    @Test func trainingFromAMappedModelEqualsTrainingFromTheDecodedOne() throws {
        let seed: UInt64 = 44
        print("training from a mapped parent: model seed \(seed)")
        let model = try Self.model(seed: seed)
        let bytes = model.encode()
        let mapped = try EmbeddingModel.open(ModelBytes(copying: bytes))
        let decoded = try EmbeddingModel.decode(bytes)
        let fresh = embeddingStream(seed: seed + 1, users: 70, items: 80, engagements: 300).map {
            Engagement(user: $0.user, item: $0.item, type: $0.type, time: EventTime(millis: $0.time.millis + 86_400_000))
        }
        let c = model.configuration
        let fromMapped = try EmbeddingTrainer.incremental(served: mapped, engagements: fresh, configuration: c)
        let fromDecoded = try EmbeddingTrainer.incremental(served: decoded, engagements: fresh, configuration: c)
        #expect(!fromMapped.isMapped)
        #expect(fromMapped.encode() == fromDecoded.encode())
        let window = windowCovering(fresh)
        let fullFromMapped = try EmbeddingTrainer.fullRefresh(
            parent: mapped, engagements: fresh, window: window, configuration: c)
        let fullFromDecoded = try EmbeddingTrainer.fullRefresh(
            parent: decoded, engagements: fresh, window: window, configuration: c)
        #expect(fullFromMapped.encode() == fullFromDecoded.encode())
        // The mapped parent is unchanged by the runs.
        #expect(mapped == model)
    }

    /// A format-1 blob as versions before format 2 published it (d 8, 6 users and 8 items with
    /// vectors, users 20 and 21 below the threshold).
    static let format1Fixture: [UInt8] = {
        let hex = [
        "5253454d0101000000d69dc5c6b26880a0f6a713d69dc5c6b2680735351801010608060800000bf1059d171e23400bf1",
        "059d171e234008cdcc4c3e9a99993e77cc2b32cdcccc3d10000000000000e83f2001020101000000000000f03f000000",
        "00000000400000000000000840000000000000084000000000000000400380a0f6a713010000000000000000300a4016",
        "03808ec5c6b26808107eb9bd7bd90b3f9af5afbe8ca6b4bd207b773cbc5b71bd6531533fcdd8f5bee85db34143b5bc42",
        "66e6c340fcc1d64215108c41f1898f421cbdb442036cb54203f0bfc4c6b2680b40d393bc53ae873eddc65fbfc65da3be",
        "440d7f3e0473603d2c1312bf238cb6be4e2cf44084906841af32f2416373af43edffc03e342142426f109d40faa43743",
        "03d0a0c4c6b268072b54583f44cf383f507f383f3aac4fbea82a36bf00cd503bf246b1bd6464e23e673f503f233c7342",
        "a0497a4101a923428f4b7640d7805f4356a81e4215b4973f03c0d2c3c6b26807583dc4be5292103edcc0fa3e7a79223e",
        "580c273fc31c273e65370abfe08a393d380ae142257624417c2af24111834941326c8941bc2c814214fbb842b126a941",
        "03d09dc5c6b2680e054b5c3e15b200bf7e47fbbec80ff03e5e8705bef933873ef640173f1776983e8499d94223c76442",
        "71b2f4427139c0427f8d0744f1e32f3f8205ae413bf8154103b084c3c6b26803b6e8dcbe50ea273ffe82d43e2066ae3e",
        "a09e463e1277843e123ff9be332c9d3ec2b2b44095a3c041cc2a654204e5f53deb01cc41a43a0742ca817040d973593f",
        "000000000000000000000000000001d29dc5c6b2680101d69dc5c6b268020c03d29dc5c6b2680d4a628d3e3cd04f3ff2",
        "aa503fc17e943eefc287be70cde2bc9a8821bee6cac83d8b519841901675438924093fcda94f425561864256b5bb4129",
        "2bcd3d316afb420003d49dc5c6b26806dc8deb3e85f0cc3e53fca7be3b74113ec926493ec3e7eb3ec60655bf466837be",
        "74f10f40edde7c3f6a3ee441bee29541df16e1418a854f400eb54642fd3f414203d69dc5c6b26806b3d1eb3e7211163e",
        "118a19bff2ac5b3f20f4393c433b3cbfac96993da03357bc1763c33e0c1b90418414b641709cfb41aecc884212783642",
        "7bfd1042dfa51d4203d0a0c4c6b2680449f2303e5638b53e00b3723e569d4dbf967ebfbd95a44e3f94efc6be0a83023f",
        "811fa54238ab2741c1163142a8b7dc4092ac6442986cb13f1fb496415d601c4101b081c4c6b2680203d09dc5c6b26807",
        "8211383ee70236bf0144a4befba2093f760a04be3cf966bf382a2b3fe0b3363d14e1ad4172d5774163e89442798ced40",
        "e907a342710900417d70ac42aa50054203f0c5c2c6b26803a28c543e7ff918bf3805f43ed907abbe9e8a4e3f7250cbbe",
        "8ac410beb69a293eb131f34186177640217004431510dd41cc9cea3fc6fb8541cf828741a364094203c0cfc4c6b26806",
        "ba7ee6be1e1a99bd5344643f888603bf6a258a3e52559fbed004de3d8e9a373e6cf5d441a28d024279890740b4f88a41",
        "672e943e762fce3d825d7040fd12963f03a0b6c2c6b268054a031dbef3048abe9a7559bf06602abeb1383b3f801b5dbe",
        "68f7e0bed0317d3e95a9ae4081c1ae42c376164279fc14428bdcfe4221421142ebf30c433f8151410001f0c2c3c6b268",
        "010214010015020203ea8fb84b731ce85a3b0b068ae99c5020",
        ].joined()
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16) ?? 0)
            i = j
        }
        return out
    }()

    @Test func aFormat1BlobStillOpensIntoTheHeap() throws {
        let bytes = Self.format1Fixture
        #expect(bytes.count == 1_225 && bytes[4] == EmbeddingModel.format1)
        let model = try EmbeddingModel.open(ModelBytes(copying: bytes))
        #expect(!model.isMapped)
        #expect(model == (try EmbeddingModel.decode(bytes)))
        #expect(model.metadata.version == EmbeddingModelVersion(major: 1, minor: 0))
        #expect(model.metadata.logPosition == 7 && model.metadata.trainedThrough.millis == 1_793_491_249_003)
        #expect(model.dimension == 8 && model.users.idLimit == 22 && model.items.idLimit == 12)
        #expect(model.users.idsWithVectors == [0, 1, 2, 3, 4, 5])
        #expect(model.items.idsWithVectors == [0, 2, 3, 4, 6, 7, 8, 9])
        #expect(
            model.users.vector(0) == [
                -0.09057248, 0.54628724, -0.34367067, -0.08820829, 0.015105039, -0.058925375, 0.82497245, -0.48016968,
            ])
        #expect(model.fallbackItems(user: 20) == [0] && model.fallbackItems(user: 21) == [2, 3])
        #expect(model.items.engagements(0) == 13)
        #expect(model.encodeFormat1() == bytes)
        // Served as before (index built in the heap), and published again as format 2.
        let retriever = EmbeddingRetriever(model: model)
        #expect(!retriever.index.isMapped && retriever.retrieve(user: 0, k: 3).items.count == 3)
        let upgraded = model.encode()
        #expect(upgraded[4] == EmbeddingModel.formatVersion)
        #expect(try EmbeddingModel.open(ModelBytes(copying: upgraded)) == model)
    }

    /// `bytes` with its trailing checksum recomputed (as if damaged before it was checksummed).
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var body = Array(bytes.dropLast(16))
        let hash = MurmurHash3.hash128(body.span)
        for half in [hash.low, hash.high] {
            for shift in stride(from: 0, to: 64, by: 8) { body.append(UInt8(truncatingIfNeeded: half >> UInt64(shift))) }
        }
        return body
    }

    static func openError(_ bytes: [UInt8], verifiesChecksum: Bool = true) -> String? {
        do {
            _ = try EmbeddingModel.open(ModelBytes(copying: bytes), verifiesChecksum: verifiesChecksum)
            return nil
        } catch {
            return error.message
        }
    }

    /// Where format 2's section table starts in `bytes`.
    static func sectionTable(_ bytes: [UInt8]) -> Int {
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        return 64 * ((16 + headerLength + 63) / 64)
    }

    @Test func aTruncatedOrCorruptBlobIsRefusedWithAClearError() throws {
        let bytes = try Self.model(seed: 45).encode()
        #expect(Self.openError(bytes) == nil)
        #expect(Self.openError([]) == "model blob of 0 bytes")
        #expect(Self.openError(Array(bytes.prefix(31))) == "model blob of 31 bytes")
        var notAModel = bytes
        notAModel[0] = UInt8(ascii: "X")
        #expect(Self.openError(notAModel) == "not an embedding model blob")
        var future = bytes
        future[4] = 3
        #expect(Self.openError(future) == "embedding model format 3")
        // Truncated anywhere: the checksum no longer matches; without the checksum (the runtime
        // checks the manifest's instead), the layout check refuses it.
        for cut in [32, 100, bytes.count / 2, bytes.count - 17, bytes.count - 1] {
            #expect(Self.openError(Array(bytes.prefix(cut))) == "model checksum mismatch")
            #expect(Self.openError(Array(bytes.prefix(cut)), verifiesChecksum: false) != nil, "cut at \(cut)")
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x04
        #expect(Self.openError(flipped) == "model checksum mismatch")
        // Section 4 (the user vectors) moved past the end, resealed: refused by the layout check.
        var moved = bytes
        moved[Self.sectionTable(bytes) + 16 * 4 + 6] = 0x7F
        let message = try #require(Self.openError(Self.resealed(moved)))
        #expect(message.hasPrefix("section 4 at "), "\(message)")
    }

    /// Any blob whose checksum matches is either refused or served without a trap: damage to the
    /// header, the section table and every column that decides where a read lands, resealed, then
    /// every query.
    @Test func aResealedDamagedBlobIsRefusedOrServedNeverTrapped() throws {
        let seed: UInt64 = 46
        print("damaged format-2 blobs: seed \(seed)")
        let bytes = try Self.model(seed: seed).encode()
        let model = try EmbeddingModel.open(ModelBytes(copying: bytes))
        let columns = Self.integerColumns(bytes).filter { !$0.isEmpty }
        var random = Xoshiro256StarStar(seed: seed)
        var refused = 0
        for _ in 0..<300 {
            var bad = bytes
            let at: Int
            if random.next() % 4 == 0 {
                at = Int(random.next() % UInt64(Self.sectionTable(bytes) + 16 * 20))
            } else {
                let column = columns[Int(random.next() % UInt64(columns.count))]
                at = column.lowerBound + Int(random.next() % UInt64(column.count))
            }
            bad[at] ^= UInt8(1 << (random.next() % 8))
            guard let damaged = try? EmbeddingModel.open(ModelBytes(copying: Self.resealed(bad))) else {
                refused += 1
                continue
            }
            let retriever = EmbeddingRetriever(model: damaged)
            for user in Int32(-1)..<Int32(model.users.idLimit + 1) {
                _ = retriever.retrieve(user: user, k: 10)
                _ = retriever.retrieve(user: user, k: 10, exact: true)
                _ = damaged.users.vector(user)
            }
            for item in Int32(-1)..<Int32(model.items.idLimit + 1) { _ = damaged.items.unitVector(item) }
        }
        print("damaged format-2 blobs: \(refused) of 300 refused")
        #expect(refused > 0)
    }

    /// Byte ranges of the sections of 4-byte integers: rows and owners of both tables, the
    /// fallback lists, the index's list starts and entries, the popularity order.
    static func integerColumns(_ bytes: [UInt8]) -> [Range<Int>] {
        func le(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let tableAt = Self.sectionTable(bytes)
        return [0, 3, 6, 9, 12, 13, 14, 16, 17, 19].map { k in
            let offset = le(tableAt + 16 * k)
            return offset..<(offset + le(tableAt + 16 * k + 8))
        }
    }
}
