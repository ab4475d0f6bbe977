import Foundation

/// The one way the runtime runs blocking work (librdkafka and RocksDB calls, long computations)
/// from async code: on a new thread of its own, never on Swift's cooperative pool, which also
/// serves HTTP. Returns the closure's result. Long-running loops (ingest, the end-offset monitor,
/// the group directory) are threads started once, not calls of this.
func onDedicatedThread<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }
}
