import Hummingbird
import RecstreamCore

/// Until the instance holds its partitions' state (a restart waiting for the group, a restore in
/// progress), keyed read routes answer 503 `warming_up` with `Retry-After: 1` instead of the 404
/// an absent key would get: to a serving fleet a 404 reads as "no data", which is wrong while the
/// data is simply not loaded yet. Health, status, metrics, cluster, the UI and admin routes stay
/// open.
struct WarmUpMiddleware<Context: RequestContext>: RouterMiddleware {
    let queries: any StateQueries

    static func gates(_ path: String) -> Bool {
        guard path.hasPrefix("/v1/") else { return false }
        return !(path == "/v1/status" || path == "/v1/cluster" || path.hasPrefix("/v1/admin/"))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if Self.gates(request.uri.path), let reason = queries.warmingUp() {
            throw APIError(.serviceUnavailable, code: "warming_up", "this instance is not serving yet: \(reason); retry", retryAfterSeconds: 1)
        }
        return try await next(request, context)
    }
}
