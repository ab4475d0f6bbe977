import RecstreamCore
import RecstreamTesting
import Testing

/// apache/flink-ml's SwingTest.testTransform, the public conformance vector.
@Suite("Swing conformance with flink-ml")
struct FlinkConformanceTests {
    // (user, item) pairs of SwingTest.testTransform, in order.
    let input: [(Int32, Int32)] = [
        (0, 10), (0, 11), (0, 12), (1, 13), (1, 12), (2, 10), (2, 11), (2, 12), (3, 13), (3, 12), (4, 12), (4, 10),
        (4, 11), (4, 12), (4, 13),
    ]

    var configuration: CooccurrenceConfiguration {
        var c = CooccurrenceConfiguration.flinkML
        c.swing.minUserItems = 2
        c.swing.maxUserItems = 3
        return c
    }

    var engagements: [Engagement] {
        input.enumerated().map { engagement($0.element.0, $0.element.1, at: Int64($0.offset)) }
    }

    @Test func exactSwingMatchesFlinkML() {
        // User 4 has 4 distinct items > maxUserBehavior 3 and is left out. Users 0 and 2 have
        // {10, 11, 12}: w = (3 + 15)^-0.3; users 1 and 3 have {12, 13}: w = (2 + 15)^-0.3; α = 0.
        //   s(10,11) = s(10,12) = s(11,12) = 18^-0.3 · 18^-0.3 / 3 = 0.058845768947156235
        //   s(12,13) = 17^-0.3 · 17^-0.3 / 2 = 0.09134833828228624
        let expected: [Int32: [(Int32, Double)]] = [
            10: [(11, 0.058845768947156235), (12, 0.058845768947156235)],
            11: [(10, 0.058845768947156235), (12, 0.058845768947156235)],
            12: [(13, 0.09134833828228624), (10, 0.058845768947156235), (11, 0.058845768947156235)],
            13: [(12, 0.09134833828228624)],
        ]
        let c = configuration
        let window = windowEnding(engagements, configuration: c)
        let result = ExactSimilarities.compute(engagements: engagements, window: window, configuration: c)
        let reference = ReferenceSwing(engagements: engagements, window: window, configuration: c)
        for (item, list) in expected {
            let got = result.similar(item: item, method: .swing)
            #expect(got.map(\.item) == list.map(\.0), "item \(item)")
            for (g, e) in zip(got, list) {
                #expect(abs(g.score - e.1) <= 1e-12, "s(\(item), \(e.0)) = \(g.score), flink-ml \(e.1)")
            }
            let ref = reference.top(item, 10)
            #expect(ref.map(\.item) == list.map(\.0))
            for (r, e) in zip(ref, list) { #expect(abs(r.score - e.1) <= 1e-12) }
        }
        #expect(result.statistics.swingUsers == 4)
    }
}
