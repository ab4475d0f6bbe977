import Foundation
import RecstreamBench
import Testing

@Suite("Benchmark report")
struct BenchmarkReportTests {
    @Test func rerunReplacesItsOwnSectionsAndKeepsTheOthers() {
        let existing = "# Benchmarks\n\nold intro\n\n## Ingest\n\nold ingest\n\n## Embeddings\n\nkept 1\n\n## Look-alike\n\nkept 2\n"
        let generated = "# Benchmarks\n\nnew intro\n\n## Ingest\n\nnew ingest\n"
        let merged = BenchmarkReport.merging(generated, into: existing)
        #expect(merged.contains("new ingest"))
        #expect(!merged.contains("old ingest"))
        #expect(!merged.contains("old intro"))
        #expect(merged.contains("## Embeddings\n\nkept 1"))
        #expect(merged.contains("## Look-alike\n\nkept 2"))
        #expect(merged.components(separatedBy: "## Ingest").count == 2)
    }

    @Test func noExistingFileMeansTheGeneratedReport() {
        #expect(BenchmarkReport.merging("# B\n\n## A\n\nx\n", into: nil) == "# B\n\n## A\n\nx\n")
    }
}
