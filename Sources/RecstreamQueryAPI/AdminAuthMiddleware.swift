import HTTPTypes
import Hummingbird

/// Guards `/v1/admin/*`. With a token configured, a request must carry
/// `Authorization: Bearer <token>` (compared in constant time) or gets 401. Without one, admin
/// routes answer only when the server is bound to a loopback address (a developer's machine),
/// and 403 otherwise, so an instance exposed on a network never runs admin actions unprotected.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let boundToLoopback: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token else {
            guard boundToLoopback else {
                throw APIError(
                    .forbidden, code: "admin_disabled",
                    "admin routes need http.admin_token (or RECSTREAM_HTTP_ADMIN_TOKEN) when the API is not on a loopback address")
            }
            return try await next(request, context)
        }
        let presented = request.headers[.authorization] ?? ""
        guard presented.hasPrefix("Bearer "), Self.constantTimeEqual(Array(presented.utf8.dropFirst(7)), Array(token.utf8)) else {
            throw APIError(.unauthorized, code: "unauthorized", "admin routes need the header Authorization: Bearer <admin token>")
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
