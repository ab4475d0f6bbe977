import Foundation
import HTTPTypes
import Logging
import Hummingbird
import NIOCore

/// An error the API reports to its caller as JSON: `{"error": {"code": ..., "message": ...}}`.
/// 4xx for the caller's mistakes; anything unexpected becomes a 500 with a generic message (and a
/// log line), never a crash.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    /// Seconds for a `Retry-After` header (503s that clear by themselves).
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }
    /// Split mode: the instance owning the key did not answer.
    public static func unavailable(_ message: String) -> APIError { APIError(.serviceUnavailable, code: "owner_unavailable", message) }
    public static func tooLarge(_ message: String) -> APIError {
        APIError(.contentTooLarge, code: "payload_too_large", message)
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = (try? JSONEncoder().encode(Body(error: .init(code: code, message: message)))) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Renders every error as a JSON ``APIError``: route errors as they are, framework errors (no
/// such route, body too large) with their status, and unknown errors as a logged 500.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("request body exceeds the limit")
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .notFound: throw APIError.notFound("no route for \(request.method) \(request.uri.path)")
            case .methodNotAllowed:
                throw APIError(.methodNotAllowed, code: "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            default:
                throw APIError(error.status, code: "http_\(error.status.code)", error.status.reasonPhrase)
            }
        } catch {
            context.logger.error("unexpected error serving \(request.method) \(request.uri.path): \(error)")
            throw APIError(.internalServerError, code: "internal", "internal error; see the server log")
        }
    }
}
