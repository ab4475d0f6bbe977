import RecstreamCore
import Testing

@Suite("Embeddings: IVF index")
struct IVFIndexTests {
    /// `count` unit vectors around `clusters` random centres (noise `spread` per coordinate).
    static func clustered(seed: UInt64, count: Int, clusters: Int, dimension: Int, spread: Double) -> [[Float]] {
        var random = Xoshiro256StarStar(seed: seed)
        let centres = randomVectors(clusters, dimension, &random)
        return (0..<count).map { _ in
            let c = centres[Int(random.next() % UInt64(clusters))]
            let v = c.map { $0 + Float((2 * unit(&random) - 1) * spread) }
            let n = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / n }
        }
    }

    @Test func recallAtHundredAtTheDefaultProbesIsAtLeastNinetyFivePercent() {
        let seed: UInt64 = 41
        print("IVF recall: seed \(seed)")
        let vectors = Self.clustered(seed: seed, count: 8_000, clusters: 40, dimension: 32, spread: 0.6)
        let ids = (0..<Int32(vectors.count)).map { $0 }
        let c = EmbeddingConfiguration()
        let index = IVFIndex(ids: ids, vectors: vectors, configuration: c)
        #expect(index.listCount == 89)
        let queries = Self.clustered(seed: seed + 1, count: 50, clusters: 40, dimension: 32, spread: 0.6)
        var recall = 0.0
        for q in queries {
            let exact = Set(index.bruteForce(q, k: 100).map(\.item))
            let approx = index.search(q, k: 100).map(\.item)
            recall += Double(approx.filter { exact.contains($0) }.count) / 100
        }
        recall /= Double(queries.count)
        print("  recall@100 at nprobe \(c.ivfProbes) of \(index.listCount) lists: \(recall)")
        #expect(recall >= 0.95)
    }

    @Test func probingEveryListIsExactAndExclusionsHold() {
        let vectors = Self.clustered(seed: 42, count: 600, clusters: 6, dimension: 16, spread: 0.5)
        var c = EmbeddingConfiguration()
        c.dimension = 16
        c.ivfLists = 12
        let index = IVFIndex(ids: (0..<Int32(600)).map { $0 * 3 }, vectors: vectors, configuration: c)
        #expect(index.itemCount == 600 && index.listSizes.reduce(0, +) == 600)
        for q in Self.clustered(seed: 43, count: 10, clusters: 6, dimension: 16, spread: 0.5) {
            let exact = index.bruteForce(q, k: 20, excluding: { $0 % 2 == 0 })
            let all = index.search(q, k: 20, probes: 12, excluding: { $0 % 2 == 0 })
            #expect(exact.map(\.item) == all.map(\.item))
            #expect(exact.allSatisfy { $0.item % 2 == 1 } && exact.count == 20)
            let scores = exact.map(\.score)
            #expect(scores == scores.sorted(by: >))
        }
    }

    @Test func sameSeedSameIndex() {
        let vectors = Self.clustered(seed: 44, count: 500, clusters: 5, dimension: 8, spread: 0.5)
        var c = EmbeddingConfiguration()
        c.dimension = 8
        let a = IVFIndex(ids: (0..<Int32(500)).map { $0 }, vectors: vectors, configuration: c)
        let b = IVFIndex(ids: (0..<Int32(500)).map { $0 }, vectors: vectors, configuration: c)
        #expect(a.listSizes == b.listSizes)
        #expect(a.search(vectors[0], k: 10, probes: 2).map(\.item) == b.search(vectors[0], k: 10, probes: 2).map(\.item))
    }
}
