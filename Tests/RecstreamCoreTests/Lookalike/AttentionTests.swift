import RecstreamCore
import Testing

@Suite("Look-alike attention formulas")
struct AttentionTests {
    @Test func selfAttentionPoolingByHand() {
        // ê_1 = ê_2 = (1, 0), ê_3 = (0, 1), τ_g = 1.
        // m = (2/3, 1/3);  a = (ê_i · m) = (2/3, 2/3, 1/3)
        // exp(2/3) = 1.9477340410546757, exp(1/3) = 1.3956124250860895, Σ = 5.291080507195441
        // α = (0.36811650066671925, 0.36811650066671925, 0.2637669986665615)
        // Σ α_i ê_i = (0.7362330013334385, 0.2637669986665615), norm 0.7820563034961158
        // g = (0.9414066455857102, 0.33727366877220183)
        let pooled = SeedSummaryBuilder.selfAttentionPooling(
            points: [1, 0, 1, 0, 0, 1], count: 3, dimension: 2, temperature: 1)
        #expect(near(pooled.weights[0], 0.36811650066671925, 1e-12))
        #expect(near(pooled.weights[1], 0.36811650066671925, 1e-12))
        #expect(near(pooled.weights[2], 0.2637669986665615, 1e-12))
        #expect(near(Double(pooled.vector[0]), 0.9414066455857102, 1e-7))
        #expect(near(Double(pooled.vector[1]), 0.33727366877220183, 1e-7))
    }

    @Test func selfAttentionTendsToTheMeanAtHighTemperature() {
        // τ_g = 1000: α ≈ 1/3 each, g ≈ normalise(2/3, 1/3) = (0.894427, 0.447214).
        let pooled = SeedSummaryBuilder.selfAttentionPooling(
            points: [1, 0, 1, 0, 0, 1], count: 3, dimension: 2, temperature: 1000)
        #expect(near(Double(pooled.vector[0]), 0.8944271909999159, 1e-3))
        #expect(near(Double(pooled.vector[1]), 0.4472135954999579, 1e-3))
    }

    /// Centres μ_1 = (1, 0) of 3 seeds and μ_2 = (0, 1) of 1 seed, g = (1/√2, 1/√2).
    static let summary = SeedSummary(
        item: 0, modelVersion: 1, builtAt: EventTime(millis: 0), seedCount: 4, vectorCount: 4, dimension: 2,
        global: [0.70710677, 0.70710677], centres: [1, 0, 0, 1], sizes: [3, 1])

    @Test func localAttentionByHand() {
        // ê_u = (0.6, 0.8), τ = 0.5: s = (0.6, 0.8)
        // n_c · exp(s_c / τ) = (3 · e^1.2, 1 · e^1.6) = (9.960350768209642, 4.953032424395115), Σ = 14.913383192604757
        // w = (0.667880026924325, 0.3321199730756749)
        let w = LookalikeScorer.localAttention(unitUser: [0.6, 0.8], summary: Self.summary, temperature: 0.5)
        #expect(near(Double(w[0]), 0.667880026924325, 1e-6))
        #expect(near(Double(w[1]), 0.3321199730756749, 1e-6))
    }

    @Test func scoreByHand() {
        // local = (0.667880026924325, 0.3321199730756749), ‖local‖ = 0.745900400107296
        // l̂ = (0.8954010841504471, 0.4452604838768021)
        // β = 0.5: v = 0.5 g + 0.5 l̂ = (0.8012539326684973, 0.5761836325316748), ‖v‖ = 0.986912074611578
        // score = ê_u · v / ‖v‖ = (0.6 · 0.80125 + 0.8 · 0.57618) / 0.98691 = 0.9541876017648945
        var c = LookalikeConfiguration()
        c.beta = 0.5
        c.localTemperature = 0.5
        var scorer = LookalikeScorer(configuration: c)
        #expect(near(Double(scorer.score(unitUser: [0.6, 0.8], summary: Self.summary)), 0.9541876017648945, 1e-6))
        // β = 1: cos(ê_u, g) = (0.6 + 0.8) / √2 = 0.9899494936611666.
        c.beta = 1
        var global = LookalikeScorer(configuration: c)
        #expect(near(Double(global.score(unitUser: [0.6, 0.8], summary: Self.summary)), 0.9899494936611666, 1e-6))
        // β = 0: cos(ê_u, l̂) = 0.6 · 0.8954010841504471 + 0.8 · 0.4452604838768021 = 0.8934490575917099.
        c.beta = 0
        var local = LookalikeScorer(configuration: c)
        #expect(near(Double(local.score(unitUser: [0.6, 0.8], summary: Self.summary)), 0.8934490575917099, 1e-6))
    }
}
