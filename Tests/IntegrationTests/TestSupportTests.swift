import RecstreamTesting
import Testing

/// Counts the tasks inside a section and the most there ever were at once.
private actor Occupancy {
    var now = 0
    var most = 0
    var done = 0

    func enter() {
        now += 1
        most = max(most, now)
    }

    func leave() {
        now -= 1
        done += 1
    }
}

/// The helpers every integration test leans on: the process-slot bound and the progress-budgeted
/// wait.
@Suite("Integration test support")
struct TestSupportTests {
    /// Ten tasks through two slots: never more than two inside at once, and every task gets in.
    @Test func processSlotsNeverAdmitMoreThanTheirCount() async {
        let slots = ProcessSlots(count: 2)
        let inside = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    await slots.acquire()
                    await inside.enter()
                    await Task.yield()
                    await inside.leave()
                    await slots.release()
                }
            }
        }
        #expect(await inside.most <= 2)
        #expect(await inside.done == 10)
    }

    /// A nested request for a slot inside a test that holds one runs at once (no self-deadlock,
    /// whatever the bound).
    @Test func aNestedSlotRequestRunsAtOnce() async {
        let ran = await withProcessSlot { await withProcessSlot { true } }
        #expect(ran)
    }

    /// A measure that keeps moving is waited for past the stall window; one that stands still
    /// fails after it, naming where it stood.
    @Test func progressWaitsFailOnlyOnAStall() async throws {
        var count = 0
        try await eventually(stall: .milliseconds(200), every: .milliseconds(20), "a moving counter", progress: {
            count += 1
            return count >= 30 ? .done : .waiting([count])
        })
        #expect(count == 30)

        await #expect(throws: EventuallyStalled.self) {
            try await eventually(stall: .milliseconds(200), every: .milliseconds(20), "a stuck counter", progress: { .waiting([7]) })
        }
        await #expect(throws: EventuallyTimedOut.self) {
            var moving = 0
            try await eventually(stall: .seconds(10), cap: .milliseconds(200), every: .milliseconds(20), "a counter that never arrives", progress: {
                moving += 1
                return .waiting([moving])
            })
        }
    }
}
