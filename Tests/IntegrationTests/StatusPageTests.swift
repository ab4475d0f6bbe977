import Foundation
import RecstreamBench
import RecstreamRuntime
import RecstreamTesting
import Testing

@Suite("Status page in headless Chromium", .serialized, .processSlot)
struct StatusPageTests {
    static let chromium = "/usr/bin/chromium"

    /// Runs the demo, loads /ui in headless Chromium, saves a screenshot and checks that both
    /// plots and every table were filled from the live API.
    @Test(.timeLimit(.minutes(6)))
    func statusPageShowsLivePlotsAndTables() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.chromium), "chromium is missing: make test installs it")
        let demo = try RecstreamProcess(["demo", "--http-address", "127.0.0.1:0", "--rate", "2000", "--duration", "120"])
        defer { demo.signal(SIGKILL) }
        let api = try await demo.value(after: "api:")
        try await eventually(within: .seconds(120), "the demo to have clicks in the last hour") {
            let (code, body, _) = try await http(api + "/v1/items/top?type=click&window=1h&limit=5")
            return code == 200 && !(((body as? [String: Any])?["items"] as? [Any]) ?? []).isEmpty
        }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000", "--window-size=1280,1400"]
        let dom = try ChildProcess([Self.chromium] + flags + ["--dump-dom", api + "/ui"])
        #expect(try await dom.waitForExit(within: .seconds(120)) == 0)
        let html = dom.lines.joined(separator: "\n")
        for id in ["throughput", "lag", "partitions", "dlq", "state", "top", "item-stats"] {
            #expect(html.range(of: "id=\"\(id)\"[^>]*data-filled=\"true\"", options: .regularExpression) != nil, "#\(id) is empty")
        }
        #expect(html.contains("recstream.events[0]"))

        let screenshot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/ui/status-page.png")
        try FileManager.default.createDirectory(at: screenshot.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: screenshot)
        let shot = try ChildProcess([Self.chromium] + flags + ["--screenshot=\(screenshot.path)", api + "/ui"])
        #expect(try await shot.waitForExit(within: .seconds(120)) == 0)
        let size = (try? FileManager.default.attributesOfItem(atPath: screenshot.path)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot at \(screenshot.path) is \(size) bytes")
        print("status page screenshot: \(screenshot.path)")
    }
}
