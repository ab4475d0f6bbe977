import RecstreamCore
import Testing

@Suite("Co-occurrence configuration")
struct CooccurrenceConfigurationTests {
    @Test func defaultsAreTheDocumentedOnes() {
        let c = CooccurrenceConfiguration.default
        #expect(c.windowMillis == 30 * 86_400_000)
        #expect(c.historyLength == 50)
        #expect(c.recentUsersPerItem == 100)
        #expect(c.topK == 100)
        #expect(c.candidatesPerItem == 200)
        #expect(c.computesItemCF && c.computesSwing)
        #expect(!c.itemCFActivityPenalty)
        #expect(c.swing == SwingParameters(alpha: 1, alpha1: 5, beta: 0.3, minUserItems: nil, maxUserItems: nil))
        #expect(c.pathologicalUserItems == 1_000)
        #expect(c.swingOverlapCorrectionLimit == 16)
        #expect(c.exactRecomputeIntervalMillis == 600_000)
        #expect(c.weights[.exposure] == 0)
        #expect(
            [EventType.click, .like, .collect, .share, .comment].map { c.weights[$0] } == [1, 2, 3, 3, 2])
        #expect(c.validate().isEmpty)
    }

    @Test func flinkMLPresetReproducesFlinkMLDefaults() {
        let c = CooccurrenceConfiguration.flinkML
        #expect(c.swing.alpha == 0)
        #expect(c.swing.alpha1 == 15)
        #expect(c.swing.beta == 0.3)
        #expect(c.swing.minUserItems == 10)
        #expect(c.swing.maxUserItems == 1_000)
        #expect(c.topK == 100)
        #expect(c.swingMinUserItems == 10 && c.swingMaxUserItems == 1_000)
        #expect(c.validate().isEmpty)
    }

    @Test func alinkPresetReproducesAlinkDefaults() {
        let c = CooccurrenceConfiguration.alink
        #expect(c.swing.alpha == 1)
        #expect(c.swing.alpha1 == 5)
        #expect(c.swing.beta == -0.35)
        #expect(c.swing.minUserItems == 10)
        #expect(c.swing.maxUserItems == 1_000)
        // Alink's weight 1 / (|I_u| + 5)^-0.35 grows with activity: (10 + 5)^0.35.
        #expect(abs(c.swing.userWeight(items: 10) - 2.5800726833705916) < 1e-12)
        #expect(c.validate().isEmpty)
    }

    @Test func validateNamesEveryProblem() {
        var c = CooccurrenceConfiguration()
        c.historyLength = 1
        c.topK = 300
        c.candidatesPerItem = 100
        c.swing.alpha = -1
        c.swing.minUserItems = 20
        c.swing.maxUserItems = 10
        c.weights.click = .nan
        c.computesItemCF = false
        c.computesSwing = false
        let problems = c.validate()
        for fragment in [
            "historyLength", "candidatesPerItem", "swing.alpha ", "swing.maxUserItems", "click", "ItemCF and Swing",
        ] {
            #expect(problems.contains { $0.contains(fragment) }, "no problem mentions \(fragment): \(problems)")
        }
    }
}
