import Foundation

/// The condition did not hold within the deadline.
public struct EventuallyTimeout: Error, CustomStringConvertible {
    public var description: String
}

/// Polls `condition` until it returns true or `within` elapses: the one way tests wait.
/// - Throws: ``EventuallyTimeout`` naming `what`, or whatever `condition` throws.
public func eventually(
    within: Duration = .seconds(10), every: Duration = .milliseconds(20), _ what: String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + within
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw EventuallyTimeout(description: "\(what) did not hold within \(within)") }
        try await Task.sleep(for: every)
    }
}
