import Foundation
import Testing

/// A counting semaphore that bounds how many tests which start processes or brokers run at once,
/// across every suite of the test binary (Swift Testing runs suites in parallel, without a limit).
///
/// A `recstream run` with its broker wants about a core while it ingests; twenty of them on two
/// cores make every wait in every one of them slow at once. With a bound, a test waits for a slot
/// before it starts instead of being slowed down while it runs.
///
/// The bound is `RECSTREAM_TEST_PROCESS_SLOTS` when set to a positive number, else the number of
/// active cores (at least 1). Waiters are served in arrival order. Cost: one actor hop per acquire
/// and release.
public actor ProcessSlots {
    /// The slots every test of this process shares.
    public static let shared = ProcessSlots(count: configuredCount)

    /// `RECSTREAM_TEST_PROCESS_SLOTS` when it is a positive integer, else the active core count.
    public static var configuredCount: Int {
        if let value = ProcessInfo.processInfo.environment["RECSTREAM_TEST_PROCESS_SLOTS"].flatMap(Int.init), value > 0 {
            return value
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Whether the current task already holds a slot (a nested request takes no second one).
    @TaskLocal static var isHeld = false

    /// The number of slots.
    public nonisolated let count: Int
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(count: Int) {
        precondition(count > 0, "ProcessSlots needs at least one slot, got \(count)")
        self.count = count
        free = count
    }

    /// Takes a slot, waiting (without blocking a thread) until one is free.
    ///
    /// - Important: Not cancellable: a waiting task waits until it gets its slot.
    public func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Returns a slot, handing it straight to the longest waiter if there is one.
    public func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Runs `body` holding one of the shared process slots (see ``ProcessSlots``); a task that already
/// holds one runs `body` at once.
public func withProcessSlot<T>(_ body: () async throws -> T) async rethrows -> T {
    if ProcessSlots.isHeld { return try await body() }
    await ProcessSlots.shared.acquire()
    do {
        let result = try await ProcessSlots.$isHeld.withValue(true) { try await body() }
        await ProcessSlots.shared.release()
        return result
    } catch {
        await ProcessSlots.shared.release()
        throw error
    }
}

/// A trait for tests that start a `recstream` process, another child process or a broker: the
/// test runs holding a shared process slot (see ``ProcessSlots``).
///
/// On a suite it applies to each test function in it. The slot is taken around the whole test
/// function (all its cases, if parameterised), outside its `.timeLimit`: the time spent waiting for
/// a slot is not counted against the test.
public struct ProcessSlotTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        // A test function's own scope (testCase nil) is entered before its time limit starts; the
        // per-case scope is inside it.
        !test.isSuite && testCase == nil ? self : nil
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withProcessSlot(function)
    }
}

extension Trait where Self == ProcessSlotTrait {
    /// Runs the test holding a shared process slot (see ``ProcessSlotTrait``).
    public static var processSlot: Self { Self() }
}
