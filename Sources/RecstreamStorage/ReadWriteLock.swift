#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pthread read-write lock: many readers or one writer. ``StateStore`` holds it shared around
/// every RocksDB call and exclusively to close, so a close never frees the handle under a call
/// that is still using it. Uncontended cost: one atomic operation per acquire and release.
///
/// - Important: Not reentrant for writers; a reader must not try to take the write side
///   (a scan callback that calls ``StateStore/close()`` would deadlock).
final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        let status = pthread_rwlock_init(lock, nil)
        precondition(status == 0, "pthread_rwlock_init failed with \(status)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    func lockShared() {
        let status = pthread_rwlock_rdlock(lock)
        precondition(status == 0, "pthread_rwlock_rdlock failed with \(status)")
    }

    func lockExclusive() {
        let status = pthread_rwlock_wrlock(lock)
        precondition(status == 0, "pthread_rwlock_wrlock failed with \(status)")
    }

    func unlock() {
        let status = pthread_rwlock_unlock(lock)
        precondition(status == 0, "pthread_rwlock_unlock failed with \(status)")
    }
}
