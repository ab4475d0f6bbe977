import RecstreamBench
import RecstreamCore
import Testing

@Suite("Co-occurrence benchmark helper")
struct BenchmarkHelperTests {
    /// Runs the report on a tiny stream: it must produce every line; no timing is checked.
    @Test func reportRunsOnATinyStream() {
        let lines = CooccurrenceBenchmark.report(engagements: 3_000, seed: 3)
        for line in lines { print(line) }
        for fragment in ["ItemCF:", "Swing:", "ItemCF+Swing:", "exact recompute", "commit after the swap", "swap:"] {
            #expect(lines.contains { $0.hasPrefix(fragment) }, "no line starts with \(fragment)")
        }
    }
}
