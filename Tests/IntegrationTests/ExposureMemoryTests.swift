import Foundation
import RecstreamRuntime
import RecstreamTesting
import Testing

/// The exposure filters' memory measured from outside: `recstream bench exposure-core` in a fresh
/// process (one thread allocating), so its resident-memory growth is the filters' heap.
@Suite("Exposure filter memory", .serialized, .processSlot)
struct ExposureMemoryTests {
    /// 100,000 Zipf(1.0) users, 2,000,000 exposures over 30 days. With glibc's mmap threshold fixed
    /// (so a buffer the arena outgrew goes back to the system when freed), the heap growth is
    /// within 1.5 times the persisted bytes and within 10 % of the family's own count: nothing it
    /// holds is left out of `approximateBytes`. Under glibc's default dynamic threshold, buffers
    /// under 32 MiB that the arena outgrew stay resident (docs/exposure-filter.md).
    @Test(.timeLimit(.minutes(5)))
    func heapGrowthMatchesTheFamilysOwnCount() async throws {
        let bench = try ChildProcess(
            [RecstreamProcess.binaryPath, "bench", "exposure-core", "--users", "100000", "--exposures", "2000000"],
            environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"])
        #expect(try await bench.waitForExit(within: .seconds(270)) == 0)
        let line = try #require(bench.lines.first { $0.hasPrefix("result: ") })
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(line.dropFirst("result: ".count).utf8)) as? [String: Any])
        let memory = try #require(json["memory_to_persisted"] as? Double)
        let heap = try #require(json["heap_to_persisted"] as? Double)
        print("exposure memory: \(line)")
        #expect(memory <= 1.5)
        #expect(heap <= 1.5)
        #expect(abs(heap - memory) <= 0.1 * memory)
    }
}
