import CRdKafka

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One joinable OS thread running a closure; for loops that must never occupy Swift's
/// cooperative pool (librdkafka polling, the mock-cluster sweep).
///
/// - Important: The owner must call `join()` exactly once (after telling the body to stop);
///   `deinit` traps if the thread was never joined, so a running thread is never leaked.
final class BackgroundThread {
    private var thread: pthread_t?

    /// Starts `body` on a new thread; `name` says what it is for in error messages.
    ///
    /// - Throws: `_CRIT_SYS_RESOURCE` when the OS refuses to create a thread.
    init(name: String, _ body: @escaping @Sendable () -> Void) throws(KafkaError) {
        let payload = Unmanaged.passRetained(Payload(body: body)).toOpaque()
        #if canImport(Glibc)
        var handle = pthread_t()
        #else
        var handle: pthread_t?
        #endif
        let result = pthread_create(&handle, nil, { raw in
            // The trampoline: takes back the retained payload and runs it.
            #if canImport(Glibc)
            let payload = Unmanaged<Payload>.fromOpaque(raw!).takeRetainedValue()
            #else
            let payload = Unmanaged<Payload>.fromOpaque(raw).takeRetainedValue()
            #endif
            payload.run()
            return nil
        }, payload)
        guard result == 0 else {
            Unmanaged<Payload>.fromOpaque(payload).release()
            throw .local(RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "pthread_create for \(name) failed (\(result))")
        }
        thread = handle
    }

    /// Waits for the body to return. Idempotent.
    func join() {
        guard let thread else { return }
        self.thread = nil
        pthread_join(thread, nil)
    }

    deinit {
        precondition(thread == nil, "BackgroundThread deallocated without join()")
    }

    private final class Payload: Sendable {
        let body: @Sendable () -> Void

        init(body: @escaping @Sendable () -> Void) {
            self.body = body
        }

        func run() {
            body()
        }
    }
}
