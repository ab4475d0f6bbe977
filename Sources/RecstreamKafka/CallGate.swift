#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Lets calls on a shared handle run concurrently until the owner closes it, then waits for
/// the calls in progress before the owner frees the handle.
///
/// Cost: one atomic compare-exchange to enter and one atomic subtract to leave; no lock.
final class CallGate: Sendable {
    /// Bit 0: closed. Bits 1...: number of calls in progress.
    private let state = Atomic<Int>(0)

    /// Registers a call; `false` once the gate is closed (the caller must not touch the handle).
    func enter() -> Bool {
        var current = state.load(ordering: .relaxed)
        while current & 1 == 0 {
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: current + 2, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Ends a call registered by a successful `enter()`.
    func leave() {
        state.subtract(2, ordering: .releasing)
    }

    /// Closes the gate and waits until no call is in progress.
    ///
    /// - Returns: `true` for the one call that closed it; `false` if it was already closed
    ///   (that caller does not wait).
    func close() -> Bool {
        let before = state.bitwiseOr(1, ordering: .acquiringAndReleasing).oldValue
        if before & 1 != 0 { return false }
        while state.load(ordering: .acquiring) != 1 {
            usleep(1000)
        }
        return true
    }

    var isClosed: Bool { state.load(ordering: .acquiring) & 1 != 0 }
}
