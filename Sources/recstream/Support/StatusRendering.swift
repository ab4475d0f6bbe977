import Foundation

/// Text renderings of the API's JSON for people.
enum StatusRendering {
    static func int(_ any: Any?) -> String {
        if let n = any as? Int { return Terminal.grouped(n) }
        if let n = any as? Double { return Terminal.grouped(Int(n)) }
        return "-"
    }

    static func time(_ millis: Any?) -> String {
        guard let m = millis as? Double ?? (millis as? Int).map(Double.init) else { return "-" }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: m / 1000))
    }

    static func render(_ s: [String: Any]) -> String {
        var lines: [String] = []
        lines.append("recstream \(s["version"] as? String ?? "?")  group \(s["group_id"] as? String ?? "?")  brokers \(s["bootstrap_servers"] as? String ?? "?")")
        lines.append(
            "consuming: \((s["consuming"] as? Bool) == true ? "yes" : "no")   events/s: \(int(s["events_per_second"]))   "
                + "watermark: \(time(s["watermark_millis"]))   last commit: \(time(s["last_commit_at_millis"]))"
                + ((s["last_commit_duration_millis"] as? Double).map { String(format: " (%.1f ms)", $0) } ?? ""))
        if let error = s["last_commit_error"] as? String { lines.append("LAST COMMIT ERROR: \(error)") }
        let partitions = (s["partitions"] as? [[String: Any]] ?? []).sorted { ($0["partition"] as? Int ?? 0) < ($1["partition"] as? Int ?? 0) }
        var totalLag = 0
        let rows = partitions.map { p -> [String] in
            totalLag += p["lag"] as? Int ?? 0
            let rejected = (p["rejected"] as? [String: Int] ?? [:]).values.reduce(0, +)
            return [
                "\(p["topic"] as? String ?? "?")[\(p["partition"] as? Int ?? -1)]", int(p["applied_offset"]),
                int(p["committed_offset"]), int(p["end_offset"]), int(p["lag"]), int(p["applied"]), int(p["duplicates"]),
                int(p["late"]), Terminal.grouped(rejected),
            ]
        }
        lines.append("")
        lines.append(
            Terminal.table(
                ["partition", "applied_to", "committed", "end", "lag", "events", "dups", "late", "dlq"], rows))
        lines.append("total lag: \(Terminal.grouped(totalLag))")
        let state = s["state"] as? [[String: Any]] ?? []
        if !state.isEmpty {
            lines.append("")
            lines.append(
                Terminal.table(
                    ["state family", "entries", "bytes"],
                    state.map { [$0["family"] as? String ?? "?", int($0["entries"]), int($0["bytes"])] }))
        }
        for loss in s["data_loss"] as? [[String: Any]] ?? [] {
            lines.append("DATA LOSS partition \(loss["partition"] as? Int ?? -1): \(loss["message"] as? String ?? "")")
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
