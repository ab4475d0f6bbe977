import Hummingbird

/// Routes of a switched-off family (`item_stats.enabled=false`, ...) answer 404
/// `family_disabled`, naming the setting that turns it on, instead of a 404 that reads as "no
/// data" or a 503 that suggests retrying.
package struct DisabledFamilyMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The settings of the families switched off.
    package let disabled: Set<String>

    /// The setting whose family answers `path`, if any.
    package static func setting(for path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "v1" else { return nil }
        switch (parts.count, parts[1]) {
        case (3, "items") where parts[2] == "top" || parts[2] == "stats": return "item_stats.enabled"
        case (3, "items") where parts[2] == "similar": return "cooccurrence.enabled"
        case (4, "items") where parts[3] == "stats": return "item_stats.enabled"
        case (4, "items") where parts[3] == "similar": return "cooccurrence.enabled"
        case (4, "items") where parts[3] == "seeds": return "lookalike.enabled"
        case (4, "items") where parts[3] == "embedding": return "embedding.enabled"
        case (4, "users") where parts[3] == "history": return "cooccurrence.enabled"
        case (4, "users") where parts[3] == "embedding": return "embedding.enabled"
        case (5, "users") where parts[3] == "exposures": return "exposure.enabled"
        case (3, "exposures"): return "exposure.enabled"
        case (3, "lookalike"): return "lookalike.enabled"
        case (2, "retrieve"): return "embedding.enabled"
        case (3, "admin") where parts[2] == "recompute": return "cooccurrence.enabled"
        default: return nil
        }
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if !disabled.isEmpty, let setting = Self.setting(for: request.uri.path), disabled.contains(setting) {
            throw APIError(.notFound, code: "family_disabled", "this instance does not keep that state: \(setting) is false")
        }
        return try await next(request, context)
    }
}
