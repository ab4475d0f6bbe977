import RecstreamCore
import Testing

@Suite("k-means")
struct KMeansTests {
    /// Three tight groups around the axes of R³ (10, 6 and 4 points), jittered by up to ±0.05.
    static func handMadeClusters(seed: UInt64) -> (points: [Float], labels: [Int]) {
        var random = TestRandom(seed: seed)
        let axes: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        var points: [Float] = []
        var labels: [Int] = []
        for (label, size) in [(0, 10), (1, 6), (2, 4)] {
            for _ in 0..<size {
                points.append(contentsOf: unitVector(axes[label].map { $0 + 0.05 * random.signed() }))
                labels.append(label)
            }
        }
        return (points, labels)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func recoversHandMadeClusters(seed: UInt64) throws {
        print("k-means hand-made clusters: seed \(seed)")
        let (points, labels) = Self.handMadeClusters(seed: seed)
        let result = KMeans.cluster(points: points, count: 20, dimension: 3, k: 3, maxIterations: 20, seed: seed)
        #expect(result.clusterCount == 3)
        #expect(result.converged)
        // The partition equals the planted one, whatever the cluster numbering.
        for a in 0..<20 {
            for b in 0..<20 { #expect((labels[a] == labels[b]) == (result.assignments[a] == result.assignments[b])) }
        }
        #expect(result.sizes.sorted() == [4, 6, 10])
        // Each centre is unit length and within a degree or so of its axis.
        for c in 0..<3 {
            let centre = Array(result.centres[(c * 3)..<(c * 3 + 3)])
            #expect(near(Double(centre.reduce(0) { $0 + $1 * $1 }), 1, 1e-5))
            #expect(Double(centre.max() ?? 0) > 0.99)
        }
    }

    @Test func isDeterministicGivenTheSeed() {
        var random = TestRandom(seed: 99)
        let points = (0..<200).flatMap { _ in unitVector(random.vector(8)) }
        let a = KMeans.cluster(points: points, count: 200, dimension: 8, k: 7, maxIterations: 15, seed: 5)
        let b = KMeans.cluster(points: points, count: 200, dimension: 8, k: 7, maxIterations: 15, seed: 5)
        #expect(a == b)
        #expect(a.sizes.reduce(0, +) == 200)
        #expect(a.sizes.allSatisfy { $0 >= 1 })
        // The sizes are those of the assignment.
        for c in 0..<a.clusterCount { #expect(a.sizes[c] == a.assignments.filter { $0 == c }.count) }
    }

    @Test func fewerDistinctPointsThanKGiveFewerClusters() {
        // Six points at two positions, (1, 0) four times and (0, 1) twice: k-means++ finds nothing
        // farther after two centres.
        let points: [Float] = [1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0]
        let result = KMeans.cluster(points: points, count: 6, dimension: 2, k: 5, maxIterations: 10, seed: 1)
        #expect(result.clusterCount == 2)
        #expect(result.sizes.sorted() == [2, 4])
    }

    @Test func anEmptiedClusterTakesTheFarthestPoint() {
        // k = n: every point is its own cluster, none may end empty.
        var random = TestRandom(seed: 3)
        let points = (0..<6).flatMap { _ in unitVector(random.vector(4)) }
        let result = KMeans.cluster(points: points, count: 6, dimension: 4, k: 6, maxIterations: 10, seed: 8)
        #expect(result.sizes == [1, 1, 1, 1, 1, 1])
        #expect(Set(result.assignments).count == 6)
    }

    @Test func oneCluster() {
        // k = 1: the centre is the normalised mean: (1,0) + (0,1) → (1/√2, 1/√2).
        let result = KMeans.cluster(points: [1, 0, 0, 1], count: 2, dimension: 2, k: 1, maxIterations: 5, seed: 0)
        #expect(result.sizes == [2])
        #expect(near(Double(result.centres[0]), 0.7071067811865476, 1e-6))
        #expect(near(Double(result.centres[1]), 0.7071067811865476, 1e-6))
    }
}
