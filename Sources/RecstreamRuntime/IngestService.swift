import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs an ``IngestPipeline`` on its own thread as a lifecycle `Service`: `run()` returns after
/// a graceful shutdown (or cancellation) has made the pipeline commit and leave the group.
public final class IngestService: Service, @unchecked Sendable {
    private let pipeline: IngestPipeline
    private final class StopFlag: Sendable {
        let requested = Atomic<Bool>(false)
    }
    private let stop = StopFlag()

    init(pipeline: IngestPipeline) { self.pipeline = pipeline }

    /// Asks the loop to finish: final commit, leave the group, return.
    public func requestStop() { stop.requested.store(true, ordering: .releasing) }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [pipeline, stop] in
                        do {
                            try pipeline.run(shouldStop: { stop.requested.load(ordering: .acquiring) })
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                    thread.name = "recstream-ingest"
                    thread.stackSize = 8 << 20
                    thread.start()
                }
            } onCancel: {
                self.requestStop()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
    }
}
