import CRdKafka

/// Sole owner of one `rd_kafka_t`: creating it takes the conf, `destroy()` or `deinit` frees it.
///
/// - Important: Not synchronised. Each owner (producer, consumer, admin, broker) decides how
///   `destroy()` is ordered against its other calls.
final class ClientHandle {
    private(set) var pointer: OpaquePointer?

    /// Creates a client of `type` from `conf`.
    ///
    /// - Important: `rd_kafka_new()` takes ownership of `conf` on success only; on failure
    ///   this initialiser destroys it, so the caller never frees `conf` after this call.
    /// - Throws: the reason librdkafka gave (e.g. an inconsistent configuration).
    init(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw .local(RD_KAFKA_RESP_ERR__INVALID_ARG, "rd_kafka_new() failed: \(reason)")
        }
        pointer = rk
    }

    /// The handle, or a `_STATE` error once destroyed.
    func get() throws(KafkaError) -> OpaquePointer {
        guard let pointer else { throw .local(RD_KAFKA_RESP_ERR__STATE, "the client is closed") }
        return pointer
    }

    /// Frees the handle (idempotent). Blocks until librdkafka's threads have stopped.
    func destroy() {
        guard let rk = pointer else { return }
        pointer = nil
        // rd_kafka_destroy(): frees rk and every object it owns; no callback runs after it returns.
        rd_kafka_destroy(rk)
    }

    deinit { destroy() }
}

/// An `rd_kafka_t` pointer passed to a thread this module starts.
///
/// `@unchecked Sendable` because librdkafka's handle is thread-safe for the calls made through
/// it (`rd_kafka_poll`); the owner joins that thread before destroying the handle.
struct SendableHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
