import ServiceLifecycle

/// Runs `body` every `interval` of wall-clock time until graceful shutdown: the shell of every
/// periodic job (exact co-occurrence recompute, look-alike summaries). A run that fails is
/// reported by the job itself (log line and failure counter); the schedule continues.
struct PeriodicService: Service {
    let interval: Duration
    let body: @Sendable () async -> Void

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            guard !Task.isShuttingDownGracefully else { return }
            await body()
        }
    }
}
