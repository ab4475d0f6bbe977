import Foundation
import RecstreamBench
import RecstreamRuntime
import RecstreamTesting
import Testing

/// The exposure filters' memory measured from outside: `recstream bench exposure-core` in a fresh
/// process (one thread allocating), so its resident-memory growth is the filters' heap.
@Suite("Exposure filter memory", .serialized, .processSlot)
struct ExposureMemoryTests {
    /// 200,000 Zipf(1.0) users, 6,000,000 exposures over 30 days, glibc's default malloc: the
    /// family's own count and the process's heap growth are both within 1.5 times the persisted
    /// bytes, and within 15 % of each other (nothing the family holds is left out of its count;
    /// the rest is the offsets' growth and the process's own). At a tenth of this population a
    /// few hundred KB of the process's own growth weigh too much for the heap figure to mean
    /// anything (docs/exposure-filter.md).
    @Test(.timeLimit(.minutes(6)))
    func heapAndOwnCountStayWithinOneAndAHalfTimesThePersistedBytes() async throws {
        let bench = try ChildProcess([
            RecstreamProcess.binaryPath, "bench", "exposure-core", "--users", "200000", "--exposures", "6000000",
        ])
        #expect(try await bench.waitForExit(within: .seconds(330)) == 0)
        let line = try #require(bench.lines.first { $0.hasPrefix("result: ") })
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(line.dropFirst("result: ".count).utf8)) as? [String: Any])
        let memory = try #require(json["memory_to_persisted"] as? Double)
        let heap = try #require(json["heap_to_persisted"] as? Double)
        print("exposure memory: \(line)")
        #expect(memory <= 1.5)
        #expect(heap <= 1.5)
        #expect(abs(heap - memory) <= 0.15 * memory)
    }
}
