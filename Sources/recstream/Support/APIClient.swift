import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small JSON client for the query API, used by `recstream admin` and `demo`. Failures become
/// one-line messages, never stack traces.
struct APIClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let baseURL: String
    let timeout: TimeAmount
    /// Sent as `Authorization: Bearer <token>` when set (admin routes).
    let token: String?

    init(baseURL: String, timeout: TimeAmount = .seconds(10), token: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
        self.token = token
    }

    /// GETs or POSTs `path` and returns the status and body bytes.
    func request(_ path: String, method: HTTPMethod = .GET, json body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await Self.client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Data(bytes.readableBytesView))
        } catch let error as HTTPClientError where error == .connectTimeout || error == .deadlineExceeded {
            throw Failure(description: "no answer from \(baseURL) within \(timeout.nanoseconds / 1_000_000_000) s")
        } catch let error as HTTPClientError {
            throw Failure(description: "cannot reach \(baseURL): \(error). Is `recstream run` running there? (--api URL)")
        } catch {
            throw Failure(description: "cannot reach \(baseURL): \(Self.describe(error)). Is `recstream run` running there? (--api URL)")
        }
    }

    /// Like ``request(_:method:json:)``, also returning the server's own time from its
    /// `Server-Timing: app;dur=<ms>` header.
    func requestTimed(_ path: String, method: HTTPMethod = .GET, json body: Data? = nil) async throws -> (status: Int, body: Data, serverMillis: Double?) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await Self.client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let timing = response.headers.first(name: "server-timing").flatMap { header in
            header.split(separator: "=").last.flatMap { Double($0) }
        }
        return (Int(response.status.code), Data(bytes.readableBytesView), timing)
    }

    /// Requests `path` and decodes a 200 JSON body as a dictionary; a JSON error body becomes a
    /// Failure with the server's message.
    func json(_ path: String, method: HTTPMethod = .GET, body: Data? = nil) async throws -> Any {
        let (status, data) = try await request(path, method: method, json: body)
        let object = try? JSONSerialization.jsonObject(with: data)
        guard status == 200 else {
            if let error = (object as? [String: Any])?["error"] as? [String: Any], let message = error["message"] as? String {
                throw Failure(description: "\(baseURL)\(path): HTTP \(status): \(message)")
            }
            throw Failure(description: "\(baseURL)\(path): HTTP \(status)")
        }
        guard let object else { throw Failure(description: "\(baseURL)\(path): the answer is not JSON") }
        return object
    }

    /// One client per process: connection refused fails at once instead of being retried until
    /// the deadline, so an unreachable instance gives its one-line error immediately.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(3)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }

    /// Waits until the instance owns partitions (its consumer joined the group), up to 60 s.
    func waitForPartitions() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let s = try? await json("/v1/status") as? [String: Any], !((s["partitions"] as? [Any]) ?? []).isEmpty { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("recstream run did not get its partitions within 60 s")
    }
}
