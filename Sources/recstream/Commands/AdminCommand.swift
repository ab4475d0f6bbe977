import ArgumentParser
import Foundation
import NIOHTTP1

/// Options every admin command shares.
struct APIOptions: ParsableArguments {
    @Option(help: "Query API of the instance to ask (env RECSTREAM_API).")
    var api: String = ProcessInfo.processInfo.environment["RECSTREAM_API"] ?? "http://127.0.0.1:8080"

    @Flag(help: "Print the API's JSON instead of a table (for scripts).")
    var json = false

    var client: APIClient { APIClient(baseURL: api) }
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
            Item statistics:
              item-stats      windowed counts, totals and smoothed rates of items
            """,
        subcommands: [AdminStatusCommand.self, AdminItemStatsCommand.self]
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
            guard let body = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw APIClient.Failure(description: "the status is not a JSON object")
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
