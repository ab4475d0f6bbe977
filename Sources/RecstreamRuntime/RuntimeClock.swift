import Foundation
import Synchronization

/// The time the runtime reads, injected wherever it compares against real time: wall-clock
/// milliseconds since the Unix epoch (time stamps, the future-timestamp limit, claim and status
/// ages) and a monotonic instant (intervals, time-outs, back-off). Event-time logic never reads
/// it. ``system`` in production; tests drive a ``ManualClock`` instead of waiting.
public struct RuntimeClock: Sendable {
    /// Milliseconds since the Unix epoch.
    public var wallMillis: @Sendable () -> Int64
    /// A monotonic instant, for measuring intervals.
    public var now: @Sendable () -> ContinuousClock.Instant

    public init(wallMillis: @escaping @Sendable () -> Int64, now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.wallMillis = wallMillis
        self.now = now
    }

    /// The system's clocks.
    public static let system = RuntimeClock(
        wallMillis: { Int64(Date().timeIntervalSince1970 * 1000) }, now: { ContinuousClock.now })

    /// A clock that moves only when told to, for tests: both readings start at the given wall
    /// time and advance together.
    public static func manual(_ clock: ManualClock) -> RuntimeClock {
        RuntimeClock(wallMillis: { clock.wallMillis }, now: { clock.now })
    }
}

/// Time that a test advances by hand (see ``RuntimeClock/manual(_:)``).
public final class ManualClock: Sendable {
    private let origin = ContinuousClock.now
    private let elapsed = Mutex<Duration>(.zero)
    private let wallOrigin: Int64

    public init(wallMillis: Int64) { wallOrigin = wallMillis }

    public var now: ContinuousClock.Instant { origin + elapsed.withLock { $0 } }
    public var wallMillis: Int64 {
        let e = elapsed.withLock { $0 }
        return wallOrigin + e.components.seconds * 1000 + e.components.attoseconds / 1_000_000_000_000_000
    }

    public func advance(by duration: Duration) { elapsed.withLock { $0 += duration } }
}
