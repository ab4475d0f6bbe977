import CoreMetrics
import HTTPTypes
import Hummingbird
import Metrics

/// Records every request's duration in `recstream_http_request_duration_seconds{route, method,
/// status}` (a Prometheus histogram), keyed by the matched route template (`/v1/items/{id}/stats`),
/// never by raw paths, so the label set stays bounded.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let elapsed = ContinuousClock.now - start
            let route = context.endpointPath.map { Self.template($0) } ?? "unmatched"
            Timer(
                label: "recstream_http_request_duration_seconds",
                dimensions: [("route", route), ("method", request.method.rawValue), ("status", String(status))],
                factory: factory
            ).recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        do {
            var response = try await next(request, context)
            status = response.status.code
            // Server-side time of the handler, for clients measuring server latency (W3C Server-Timing).
            let elapsed = ContinuousClock.now - start
            let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            response.headers[HTTPField.Name("Server-Timing")!] = "app;dur=\(Double(micros) / 1000)"
            return response
        } catch let error as any HTTPResponseError {
            status = error.status.code
            throw error
        }
    }

    /// `/v1/items/:id/stats` → `/v1/items/{id}/stats`.
    static func template(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
        }.joined(separator: "/")
    }
}
