import Foundation

/// The wall clock as the runtime reads it: milliseconds since the Unix epoch. Injected wherever
/// the runtime compares against real time (the future-timestamp limit, status ages, stall
/// detection) so tests can drive it; event-time logic never reads it.
public enum WallClock {
    /// The system clock.
    public static let system: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
}
