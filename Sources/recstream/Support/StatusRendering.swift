import Foundation
import RecstreamCore

/// Text renderings of the API's JSON for people.
enum StatusRendering {
    /// A number of any integer or floating-point type (a typed property, or a JSONSerialization
    /// value); "-" for nil and anything else.
    static func int(_ any: Any?) -> String {
        if let n = any as? any BinaryInteger { return Terminal.grouped(Int(n)) }
        if let n = any as? Double { return Terminal.grouped(Int(n)) }
        return "-"
    }

    /// Wall-clock milliseconds of any integer or floating-point type as an ISO 8601 time.
    static func time(_ millis: Any?) -> String {
        let m: Double
        if let n = millis as? any BinaryInteger { m = Double(n) } else if let d = millis as? Double { m = d } else { return "-" }
        return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: m / 1000))
    }

    /// The status for people. An unknown lag prints `?` and keeps the total unknown: a partition
    /// not read yet is never summed as caught up.
    static func render(_ s: InstanceStatus) -> String {
        var lines: [String] = []
        lines.append("recstream \(s.version)  group \(s.groupID)  brokers \(s.bootstrapServers)")
        lines.append(
            "consuming: \(s.consuming ? "yes" : "no")   events/s: \(int(s.eventsPerSecond))   "
                + "watermark: \(time(s.watermarkMillis))   last commit: \(time(s.lastCommitAtMillis))"
                + (s.lastCommitDurationMillis.map { String(format: " (%.1f ms)", $0) } ?? ""))
        if s.stalled {
            lines.append(
                "STALLED: no commit completed for \(Int(s.secondsSinceLastCommit ?? 0)) s (threshold \(Int(s.stallAfterSeconds)) s)")
        }
        if let error = s.lastCommitError { lines.append("LAST COMMIT ERROR: \(error)") }
        for (stage, partitions) in (s.unownedPartitions ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append(
                "UNOWNED: \(stage)-stage partitions \(partitions.map(String.init).joined(separator: ",")) have no live owner in the group; nobody consumes them")
        }
        let partitions = s.partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        let rows = partitions.map { p -> [String] in
            [
                "\(p.topic)[\(p.partition)]", int(p.appliedOffset), int(p.committedOffset), int(p.endOffset),
                p.lag.map { Terminal.grouped(Int($0)) } ?? "?", int(Int(p.applied)), int(Int(p.duplicates)), int(Int(p.late)),
                Terminal.grouped(Int(p.rejected.values.reduce(0, +))),
            ]
        }
        lines.append("")
        lines.append(
            Terminal.table(
                ["partition", "applied_to", "committed", "end", "lag", "events", "dups", "late", "dlq"], rows))
        if let total = s.totalLag {
            lines.append("total lag: \(Terminal.grouped(Int(total)))")
        } else {
            let unknown = s.partitions.filter { $0.lag == nil }.count
            lines.append(
                s.partitions.isEmpty
                    ? "total lag: unknown (no partitions assigned)" : "total lag: unknown (\(unknown) of \(s.partitions.count) partitions not reported yet)")
        }
        if s.undeliverableRecords > 0 {
            lines.append(
                "UNDELIVERABLE: \(s.undeliverableRecords) refused records could not be written to \(s.deadLetterTopic) (recstream admin undeliverable)")
        }
        if !s.state.isEmpty {
            lines.append("")
            lines.append(Terminal.table(["state family", "entries", "bytes"], s.state.map { [$0.family, int($0.entries), int($0.bytes)] }))
        }
        for loss in s.dataLoss {
            lines.append("DATA LOSS \(loss.topic)[\(loss.partition)]: \(loss.message)")
        }
        return lines.joined(separator: "\n")
    }

    static func renderItems(_ body: [String: Any]) -> String {
        var blocks: [String] = []
        let types = ["exposure", "click", "like", "collect", "share", "comment"]
        for case let item as [String: Any] in body["items"] as? [Any] ?? [] {
            let windows = item["windows"] as? [String: [String: Any]] ?? [:]
            var rows: [[String]] = []
            for window in ["1h", "24h", "7d", "30d", "all"] {
                let counts = windows[window]?["counts"] as? [String: Any] ?? [:]
                let rates = windows[window]?["rates"] as? [String: Double] ?? [:]
                rows.append(
                    [window] + types.map { int(counts[$0]) } + [String(format: "%.4f", rates["ctr"] ?? 0), String(format: "%.4f", rates["like_rate"] ?? 0)])
            }
            let late = (item["late_dropped"] as? [String: Int] ?? [:]).values.reduce(0, +)
            blocks.append(
                "item \(item["item_id"] as? String ?? "?")   now \(time(item["now"]))   late dropped \(late)\n"
                    + Terminal.table(["window"] + types + ["ctr", "like_rate"], rows))
        }
        let missing = body["not_found"] as? [String] ?? []
        if !missing.isEmpty { blocks.append("not found: " + missing.joined(separator: " ")) }
        return blocks.joined(separator: "\n\n")
    }
}
