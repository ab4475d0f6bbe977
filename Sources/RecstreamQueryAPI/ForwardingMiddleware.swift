import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import RecstreamCore

/// Split mode: sends each query to the instance that owns its key, so any instance answers for
/// the whole group.
///
/// - Item-keyed reads (`GET /v1/items/{id}/stats`) go to the owner of the item's partition of the
///   item repartition topic (Kafka's murmur2 placement, so the partition follows from the id).
/// - Reads of the engagement stage (similar items, histories, seeds, look-alike, retrieval,
///   embeddings, recompute/train/models/rollback) go to the owner of the engagement partition.
/// - Batch item statistics fan out to the owners of the ids and merge in request order.
/// - User-keyed reads (exposure filter, check, summary) fan out to every owner of an events
///   partition — which partition holds a user depends on the producers' partitioner, which
///   recstream cannot know — and merge: an item is exposed if any owner says so.
///
/// A forwarded request carries `x-recstream-forwarded` and is always answered locally, so a
/// directory that is briefly out of date never loops. When no instance claims the partition (a
/// rebalance is moving it) or an owner does not answer, the call fails with 503 rather than
/// answering from part of the state.
struct ForwardingMiddleware<Context: RequestContext>: RouterMiddleware {
    static var forwardedHeader: HTTPField.Name { HTTPField.Name("x-recstream-forwarded")! }
    /// On a forwarded user-keyed answer: the events partitions the answering instance owned when
    /// it answered (comma-separated).
    static var userPartitionsHeader: HTTPField.Name { HTTPField.Name("x-recstream-user-partitions")! }

    let routing: any OwnerRouting
    let maxBodyBytes: Int
    /// The events partitions this instance owns now (its shards, not its published claim).
    let ownedUserPartitions: @Sendable () -> [Int32]

    enum Route {
        case item(String)
        case engagement
        case itemBatch
        case userFanOut
        case local
    }

    static func route(method: HTTPRequest.Method, path: String) -> Route {
        let s = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard s.count >= 2, s[0] == "v1" else { return .local }
        switch (method, s.count, s[1]) {
        case (.get, 4, "items") where s[3] == "stats": return .item(s[2])
        case (.post, 3, "items") where s[2] == "stats": return .itemBatch
        case (.get, 4, "items") where ["similar", "seeds", "embedding"].contains(s[3]): return .engagement
        case (.post, 3, "items") where s[2] == "similar": return .engagement
        case (.get, 4, "users") where ["history", "embedding"].contains(s[3]): return .engagement
        case (_, 3, "lookalike"), (.post, 2, "retrieve"): return .engagement
        case (_, 3, "admin") where ["recompute", "train", "models", "rollback"].contains(s[2]): return .engagement
        case (_, 5, "users") where s[3] == "exposures": return .userFanOut
        case (.post, 3, "exposures") where s[2] == "check": return .userFanOut
        default: return .local
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.headers[Self.forwardedHeader] != nil, case .userFanOut = Self.route(method: request.method, path: request.uri.path) {
            // Read the ownership before answering: a partition owned now was restored, so an
            // answer from it is complete for the users it holds.
            let owned = ownedUserPartitions()
            var response = try await next(request, context)
            response.headers[Self.userPartitionsHeader] = owned.map(String.init).joined(separator: ",")
            return response
        }
        guard request.headers[Self.forwardedHeader] == nil, let selfURL = routing.selfURL else { return try await next(request, context) }
        switch Self.route(method: request.method, path: request.uri.path) {
        case .local:
            return try await next(request, context)
        case .item(let id):
            guard let owner = routing.ownerOfItem(id) else { throw Self.noOwner("the item's partition of the item topic") }
            if owner == selfURL { return try await next(request, context) }
            return try await proxy(request, body: try await collect(request), to: owner)
        case .engagement:
            guard let owner = routing.ownerOfEngagementStage() else { throw Self.noOwner("the engagement stage") }
            if owner == selfURL { return try await next(request, context) }
            return try await proxy(request, body: try await collect(request), to: owner)
        case .itemBatch:
            return try await itemBatch(request, context: context, next: next, selfURL: selfURL)
        case .userFanOut:
            guard routing.userStageComplete() else { throw Self.noOwner("every partition of the events topic") }
            let owners = routing.userStageOwners()
            guard owners.contains(where: { $0 != selfURL }) else {
                let owned = Set(ownedUserPartitions())
                guard (0..<Int32(routing.userPartitionCount())).allSatisfy(owned.contains) else {
                    throw Self.noOwner("every partition of the events topic (a partition is changing owner)")
                }
                return try await next(request, context)
            }
            return try await userFanOut(request, owners: owners)
        }
    }

    /// No instance claims the partition right now (a rebalance is moving it): retry shortly.
    static func noOwner(_ what: String) -> APIError {
        APIError.unavailable("no instance currently owns \(what) (a rebalance may be in progress); retry shortly")
    }

    // MARK: Proxying

    private func collect(_ request: Request) async throws -> Data {
        try await QueryAPI.collect(request, limit: maxBodyBytes)
    }

    private func send(_ request: Request, body: Data, to base: String) async throws -> OwnerAnswer {
        var outgoing = HTTPClientRequest(url: base + request.uri.description)
        outgoing.method = .init(rawValue: request.method.rawValue)
        for name in [HTTPField.Name.contentType, .authorization, .accept] {
            if let value = request.headers[name] { outgoing.headers.add(name: name.rawName, value: value) }
        }
        outgoing.headers.add(name: Self.forwardedHeader.rawName, value: "1")
        if !body.isEmpty { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return OwnerAnswer(
                status: Int(response.status.code), contentType: response.headers.first(name: "content-type"), body: Data(bytes.readableBytesView),
                userPartitions: response.headers.first(name: Self.userPartitionsHeader.rawName))
        } catch {
            throw APIError.unavailable("the owning instance \(base) did not answer: \(error)")
        }
    }

    private func proxy(_ request: Request, body: Data, to base: String) async throws -> Response {
        response(try await send(request, body: body, to: base), from: base)
    }

    /// An owner's answer passed on as it is.
    private func response(_ answer: OwnerAnswer, from base: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType ?? "application/json"
        headers[HTTPField.Name("x-recstream-answered-by")!] = base
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    private func json(_ object: Any, answeredBy: [String]) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[HTTPField.Name("x-recstream-answered-by")!] = answeredBy.joined(separator: ", ")
        return Response(
            status: .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))))
    }

    // MARK: Fan-out and merge

    /// `request` answered here, with its already-collected body put back.
    private func local(
        _ request: Request, body: Data, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var request = request
        request.body = RequestBody(buffer: ByteBuffer(bytes: body))
        return try await next(request, context)
    }

    /// Sends each (owner, body) concurrently; the answers in the same order.
    private func sendAll(_ request: Request, _ calls: [(owner: String, body: Data)]) async throws -> [OwnerAnswer] {
        try await withThrowingTaskGroup(of: (Int, OwnerAnswer).self) { group in
            for (index, call) in calls.enumerated() {
                group.addTask { (index, try await send(request, body: call.body, to: call.owner)) }
            }
            var answers = [OwnerAnswer?](repeating: nil, count: calls.count)
            for try await (index, answer) in group { answers[index] = answer }
            return answers.map { $0! }
        }
    }

    private func itemBatch(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response, selfURL: String
    ) async throws -> Response {
        let body = try await collect(request)
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let ids = object["ids"] as? [String] else {
            // Malformed: the local handler explains what is wrong.
            return try await local(request, body: body, context: context, next: next)
        }
        var byOwner: [String: [String]] = [:]
        for (id, owner) in zip(ids, routing.ownersOfItems(ids)) {
            guard let owner else { throw Self.noOwner("the partition of item \(id)") }
            byOwner[owner, default: []].append(id)
        }
        if byOwner.keys.allSatisfy({ $0 == selfURL }) { return try await local(request, body: body, context: context, next: next) }
        let calls = try byOwner.map { (owner: $0.key, subset: $0.value, body: try JSONSerialization.data(withJSONObject: ["ids": $0.value])) }
        let answers = try await sendAll(request, calls.map { ($0.owner, $0.body) })
        var found: [String: Any] = [:]
        for (call, part) in zip(calls, answers) {
            guard part.status == 200, let answer = try? JSONSerialization.jsonObject(with: part.body) as? [String: Any],
                let items = answer["items"] as? [Any]
            else {
                return response(part, from: call.owner)
            }
            for (id, item) in zip(call.subset, items) { found[id] = item }
        }
        let items = ids.map { found[$0] ?? NSNull() }
        let notFound = ids.filter { found[$0] == nil || found[$0] is NSNull }
        return try json(["items": items, "not_found": notFound], answeredBy: byOwner.keys.sorted())
    }

    private func userFanOut(_ request: Request, owners: [String]) async throws -> Response {
        let body = try await collect(request)
        var answers: [[String: Any]] = []
        var covered = Set<Int32>()
        for (owner, part) in zip(owners, try await sendAll(request, owners.map { ($0, body) })) {
            guard part.status == 200, let answer = try? JSONSerialization.jsonObject(with: part.body) as? [String: Any] else {
                // An invalid request fails the same way everywhere: pass the first refusal on.
                return response(part, from: owner)
            }
            answers.append(answer)
            for p in (part.userPartitions ?? "").split(separator: ",") { if let n = Int32(p) { covered.insert(n) } }
        }
        // The claims said every partition is owned; the answers must say so too. During a hand-over
        // a claim can outlive the ownership it states, and a merge without the holder's answer would
        // read "never shown": say "retry" instead.
        let partitions = routing.userPartitionCount()
        guard partitions > 0, (0..<Int32(partitions)).allSatisfy(covered.contains) else {
            throw Self.noOwner("every partition of the events topic (a partition is changing owner)")
        }
        let path = request.uri.path
        if path.hasSuffix("/exposures/filter") {
            // Kept only where every owner kept it (an item is exposed if any owner says so).
            let request = (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
            let candidates = request["items"] as? [String] ?? []
            let keptSets = answers.map { Set($0["items"] as? [String] ?? []) }
            let kept = candidates.filter { item in keptSets.allSatisfy { $0.contains(item) } }
            var merged = answers[0]
            merged["items"] = kept
            merged["removed"] = candidates.count - kept.count
            return try json(merged, answeredBy: owners)
        }
        if path.hasSuffix("/exposures/check") {
            let lists = answers.map { $0["exposed"] as? [Bool] ?? [] }
            let n = lists.map(\.count).max() ?? 0
            let exposed = (0..<n).map { i in lists.contains { i < $0.count && $0[i] } }
            return try json(["exposed": exposed], answeredBy: owners)
        }
        // Summary: the owner that holds the user answers with its slices.
        let holder = answers.first { !(($0["slices"] as? [Any]) ?? []).isEmpty } ?? answers[0]
        return try json(holder, answeredBy: owners)
    }
}

/// One owner's answer to a forwarded request.
struct OwnerAnswer: Sendable {
    var status: Int
    var contentType: String?
    var body: Data
    /// `x-recstream-user-partitions`, on user-keyed answers.
    var userPartitions: String?
}
