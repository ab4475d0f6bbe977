import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import RecstreamCore
import RecstreamQueryAPI

/// Options every admin command shares.
struct APIOptions: ParsableArguments {
    @Option(help: "Query API of the instance to ask (env RECSTREAM_API).")
    var api: String = ProcessInfo.processInfo.environment["RECSTREAM_API"] ?? "http://127.0.0.1:8080"

    @Flag(help: "Print the API's JSON instead of a table (for scripts).")
    var json = false

    @Option(help: "Admin token for /v1/admin routes (env RECSTREAM_ADMIN_TOKEN).")
    var token: String?

    var client: APIClient {
        APIClient(baseURL: api, timeout: .seconds(120), token: token ?? ProcessInfo.processInfo.environment["RECSTREAM_ADMIN_TOKEN"])
    }
}

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Ask a running instance about its state (talks to its query API).",
        discussion: """
            Every command prints a readable table, or the API's JSON with --json. --api points at the \
            instance (default http://127.0.0.1:8080, or $RECSTREAM_API). An unreachable instance gives a \
            one-line error and exit status 1.

            Instance:
              status          partitions owned, offsets, lag, commits, state sizes, throughput
              checkpoint      write a consistent copy of the committed state (needs the admin token off loopback)
              recompute       recompute ItemCF and Swing exactly from the engagement log now
              undeliverable   refused records the dead-letter topic did not take (kept in the state store)
            Item statistics:
              item-stats      windowed counts, totals and smoothed rates of items
              top-items       the items with the most events of a type in a window
            Exposure filters:
              exposed         which of these items a user was already shown
              exposure-summary  a user's filter: slices, estimated count, bytes, false-positive rate
            Similarity and history:
              similar         top-k similar items by ItemCF or Swing
              history         a user's last N engaged items
            Embeddings:
              models          published model versions and the one served
              rollback        serve an earlier published version
              train           train and publish a model now, full or incremental (also `recstream train`)
              retrieve        top-k items for a user from the served model, exposed items dropped
            Look-alike:
              seeds           an item's seed users (most recent engagers) and whether it passes the cold-start gate
              score           a user's look-alike scores for items, with cold-start flags
              lookalike       audience expansion: the top-k users that look like an item's seeds
            """,
        subcommands: [
            AdminStatusCommand.self, AdminItemStatsCommand.self, AdminTopItemsCommand.self, AdminSimilarCommand.self,
            AdminHistoryCommand.self, AdminExposedCommand.self, AdminExposureSummaryCommand.self, AdminCheckpointCommand.self,
            AdminRecomputeCommand.self, AdminModelsCommand.self, AdminRollbackCommand.self, TrainCommand.self,
            AdminRetrieveCommand.self, AdminSeedsCommand.self, AdminScoreCommand.self, AdminLookalikeCommand.self,
            AdminUndeliverableCommand.self,
        ]
    )
}

/// Runs `body`, turning any failure into one stderr line and exit status 1.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        Terminal.err("recstream: \(error)")
        throw ExitCode.failure
    }
}

struct AdminStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Partitions owned, committed and end offsets, lag, last commit, state sizes, events/s.")

    @OptionGroup var options: APIOptions

    func run() async throws {
        try await reportingFailures {
            let (status, data) = try await options.client.request("/v1/status")
            guard status == 200 else { throw APIClient.Failure(description: "\(options.api)/v1/status: HTTP \(status)") }
            if options.json {
                Terminal.out(String(decoding: data, as: UTF8.self))
                return
            }
            let decoder = APIJSON.decoder()
            let body: InstanceStatus
            do {
                body = try decoder.decode(InstanceStatus.self, from: data)
            } catch {
                throw APIClient.Failure(description: "\(options.api)/v1/status: not a status this version reads: \(error)")
            }
            Terminal.out(StatusRendering.render(body))
        }
    }
}

struct AdminItemStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "item-stats",
        abstract: "Windowed counts (1h, 24h, 7d, 30d, all-time), smoothed rates and late drops of items.")

    @OptionGroup var options: APIOptions

    @Argument(help: "Item ids (up to 1000).")
    var ids: [String]

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("give at least one item id") }
    }

    func run() async throws {
        try await reportingFailures {
            let request = try JSONSerialization.data(withJSONObject: ["ids": ids])
            let (status, data) = try await options.client.request("/v1/items/stats", method: .POST, json: request)
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            guard status == 200, let object else {
                let message = ((object?["error"] as? [String: Any])?["message"] as? String) ?? "HTTP \(status)"
                throw APIClient.Failure(description: "\(options.api)/v1/items/stats: \(message)")
            }
            if options.json {
                Terminal.out(String(decoding: data, as: UTF8.self))
                return
            }
            Terminal.out(StatusRendering.renderItems(object))
        }
    }
}

struct AdminTopItemsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top-items", abstract: "The items with the most events of a type in a window.")

    @OptionGroup var options: APIOptions

    @Option(help: "Event type: exposure, click, like, collect, share, comment.")
    var type = "click"

    @Option(help: "Window: 1h, 24h, 7d, 30d.")
    var window = "1h"

    @Option(help: "How many items.")
    var limit = 20

    func run() async throws {
        try await reportingFailures {
            let (status, data) = try await options.client.request("/v1/items/top?type=\(type)&window=\(window)&limit=\(limit)")
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            guard status == 200, let object else {
                let message = ((object?["error"] as? [String: Any])?["message"] as? String) ?? "HTTP \(status)"
                throw APIClient.Failure(description: "\(options.api)/v1/items/top: \(message)")
            }
            if options.json {
                Terminal.out(String(decoding: data, as: UTF8.self))
                return
            }
            let rows = (object["items"] as? [[String: Any]] ?? []).enumerated().map { n, item in
                [String(n + 1), item["item_id"] as? String ?? "?", StatusRendering.int(item["count"])]
            }
            Terminal.out("top items by \(type) in the last \(window)")
            Terminal.out(Terminal.table(["rank", "item", type], rows))
        }
    }
}

struct AdminCheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Write a consistent copy of the committed state (a RocksDB checkpoint) next to the state directory.",
        discussion: "The copy opens as a state directory (recstream state dump --state-dir PATH, or run --state-dir PATH).")

    @OptionGroup var options: APIOptions

    func run() async throws {
        try await reportingFailures {
            let object = try await options.client.json("/v1/admin/checkpoint", method: .POST, body: Data("{}".utf8))
            if options.json {
                try Terminal.json(object)
                return
            }
            let body = object as? [String: Any] ?? [:]
            let offsets = (body["offsets"] as? [String: Any] ?? [:]).sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }
                .map { "\($0.key):\(StatusRendering.int($0.value))" }.joined(separator: " ")
            Terminal.out("checkpoint \(body["path"] as? String ?? "?") (\(StatusRendering.int(body["bytes"])) bytes) at offsets \(offsets)")
        }
    }
}

struct AdminSimilarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "similar", abstract: "Top-k similar items by ItemCF or Swing (several items: scores summed, inputs left out).")

    @OptionGroup var options: APIOptions

    @Argument(help: "Item ids (1 to 100).")
    var items: [String]

    @Option(help: "itemcf or swing.")
    var method = "itemcf"

    @Option(help: "How many neighbours.")
    var k = 20

    @Option(help: "With several items: drop items this user was already shown.")
    var user: String?

    func validate() throws {
        guard !items.isEmpty else { throw ValidationError("give at least one item id") }
    }

    func run() async throws {
        try await reportingFailures {
            let object: Any
            if items.count == 1 && user == nil {
                let id = items[0].addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? items[0]
                object = try await options.client.json("/v1/items/\(id)/similar?method=\(method)&k=\(k)")
            } else {
                var body: [String: Any] = ["items": items, "method": method, "k": k]
                if let user { body["user_id"] = user }
                object = try await options.client.json("/v1/items/similar", method: .POST, body: try JSONSerialization.data(withJSONObject: body))
            }
            if options.json {
                try Terminal.json(object)
                return
            }
            let list = (object as? [String: Any])?["items"] as? [[String: Any]] ?? []
            Terminal.out("similar to \(items.joined(separator: ", ")) by \(method)")
            Terminal.out(Terminal.table(["rank", "item", "score"], list.enumerated().map { n, item in
                [String(n + 1), item["item_id"] as? String ?? "?", String(format: "%.6f", item["score"] as? Double ?? 0)]
            }))
        }
    }
}

struct AdminHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "A user's last N engaged items, newest first.")

    @OptionGroup var options: APIOptions

    @Argument(help: "User id.")
    var user: String

    func run() async throws {
        try await reportingFailures {
            let id = user.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? user
            let object = try await options.client.json("/v1/users/\(id)/history")
            if options.json {
                try Terminal.json(object)
                return
            }
            let list = (object as? [String: Any])?["items"] as? [[String: Any]] ?? []
            Terminal.out(Terminal.table(["item", "type", "time", "weight"], list.map { item in
                [item["item_id"] as? String ?? "?", item["type"] as? String ?? "?", StatusRendering.time(item["ts"]), String(format: "%.1f", item["weight"] as? Double ?? 0)]
            }))
        }
    }
}

struct AdminRecomputeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recompute", abstract: "Recompute ItemCF and Swing exactly from the engagement log and swap the result in.")

    @OptionGroup var options: APIOptions

    func run() async throws {
        try await reportingFailures {
            let object = try await options.client.json("/v1/admin/recompute", method: .POST, body: Data("{}".utf8))
            if options.json {
                try Terminal.json(object)
                return
            }
            let b = object as? [String: Any] ?? [:]
            Terminal.out(
                "recomputed from \(StatusRendering.int(b["engagements_in_window"])) engagements (\(StatusRendering.int(b["items"])) items) in "
                    + String(format: "%.2f s", b["seconds"] as? Double ?? 0) + ((b["swapped"] as? Bool) == true ? "; swapped in" : "; superseded, not swapped"))
        }
    }
}

struct AdminExposedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exposed", abstract: "Which of these items the user was already shown (within the exposure retention).")

    @OptionGroup var options: APIOptions

    @Argument(help: "User id.")
    var user: String

    @Argument(help: "Item ids (up to 2000).")
    var items: [String]

    func validate() throws {
        guard !items.isEmpty else { throw ValidationError("give at least one item id") }
    }

    func run() async throws {
        try await reportingFailures {
            let pairs = items.map { ["user_id": user, "item_id": $0] }
            let object = try await options.client.json(
                "/v1/exposures/check", method: .POST, body: try JSONSerialization.data(withJSONObject: ["pairs": pairs]))
            let exposed = (object as? [String: Any])?["exposed"] as? [Bool] ?? []
            if options.json {
                let body = Dictionary(uniqueKeysWithValues: zip(items, exposed))
                Terminal.out(String(decoding: try JSONSerialization.data(withJSONObject: ["user_id": user, "exposed": body], options: [.sortedKeys]), as: UTF8.self))
                return
            }
            Terminal.out(Terminal.table(["item", "exposed to \(user)"], zip(items, exposed).map { [$0, $1 ? "yes" : "no"] }))
        }
    }
}

struct AdminExposureSummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exposure-summary", abstract: "A user's exposure filter: live slices, estimated count, bytes, estimated false-positive rate.")

    @OptionGroup var options: APIOptions

    @Argument(help: "User id.")
    var user: String

    func run() async throws {
        try await reportingFailures {
            let id = user.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? user
            let object = try await options.client.json("/v1/users/\(id)/exposures/summary")
            if options.json {
                try Terminal.json(object)
                return
            }
            let b = object as? [String: Any] ?? [:]
            Terminal.out(
                "user \(user): about \(StatusRendering.int(b["estimated_count"])) exposures, \(StatusRendering.int(b["bytes"])) bytes, "
                    + String(format: "estimated false-positive rate %.3f%%", (b["estimated_fpr"] as? Double ?? 0) * 100))
            let slices = b["slices"] as? [[String: Any]] ?? []
            Terminal.out(Terminal.table(["slice from", "to", "exposures", "bytes", "fpr"], slices.map {
                [StatusRendering.time($0["start_millis"]), StatusRendering.time($0["end_millis"]), StatusRendering.int($0["estimated_count"]),
                 StatusRendering.int($0["bytes"]), String(format: "%.4f%%", ($0["estimated_fpr"] as? Double ?? 0) * 100)]
            }))
        }
    }
}

struct AdminUndeliverableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undeliverable",
        abstract: "Refused records the dead-letter topic did not take, recorded in the state store instead.",
        discussion: """
            A refused record goes to the dead-letter topic with its reason. When that topic cannot take it \
            (missing on a cluster without auto-creation, write not authorized, broker away longer than \
            dead_letter.timeout_ms), ingest records the fact here, with the source topic, partition and \
            offset (the record itself is still there until retention removes it), and goes on.
            """)

    @OptionGroup var options: APIOptions

    @Option(help: "List at most this many, in source order (1...10000).")
    var limit = 100

    func run() async throws {
        try await reportingFailures {
            let (status, data) = try await options.client.request("/v1/admin/undeliverable?limit=\(limit)")
            guard status == 200 else {
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                let message = ((object?["error"] as? [String: Any])?["message"] as? String) ?? "HTTP \(status)"
                throw APIClient.Failure(description: "\(options.api)/v1/admin/undeliverable: \(message)")
            }
            if options.json {
                Terminal.out(String(decoding: data, as: UTF8.self))
                return
            }
            let decoder = APIJSON.decoder()
            let list = try decoder.decode(UndeliverableList.self, from: data)
            Terminal.out("\(list.total) refused records could not be written to the dead-letter topic")
            guard !list.records.isEmpty else { return }
            Terminal.out(
                Terminal.table(
                    ["source", "offset", "reason", "bytes", "recorded", "error"],
                    list.records.map {
                        [
                            "\($0.topic)[\($0.partition)]", String($0.offset), $0.reason.rawValue, Terminal.grouped($0.originalBytes),
                            StatusRendering.time($0.recordedAtMillis), String($0.error.prefix(80)),
                        ]
                    }))
        }
    }
}
