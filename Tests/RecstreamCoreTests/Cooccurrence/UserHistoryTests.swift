import RecstreamCore
import Testing

@Suite("User history (LastN)")
struct UserHistoryTests {
    @Test func historyIsNewestFirstAndCappedAtN() {
        var c = CooccurrenceConfiguration()
        c.historyLength = 3
        var state = CooccurrenceState(configuration: c)
        feed(&state, (0..<5).map { engagement(7, Int32($0), at: Int64($0)) })
        #expect(state.history(user: 7).map(\.item) == [4, 3, 2])
        #expect(state.distinctItemCount(user: 7) == 5)
        #expect(state.history(user: 8).isEmpty)
    }

    @Test func repeatedEngagementRefreshesTimeAndKeepsTheStrongestType() {
        var state = CooccurrenceState()
        feed(
            &state,
            [
                engagement(1, 10, at: 0, .like), engagement(1, 11, at: 1), engagement(1, 10, at: 2, .click),
                engagement(1, 12, at: 3), engagement(1, 11, at: 4, .share),
            ])
        let h = state.history(user: 1)
        #expect(h.map(\.item) == [11, 12, 10])
        // Item 10: liked, then clicked later; like (2) outweighs click (1), the time is the click's.
        #expect(h[2].type == .like && h[2].weight == 2 && h[2].time == EventTime(millis: cooccurrenceDay0 + 2_000))
        #expect(h[0].type == .share && h[0].weight == 3)
        #expect(state.counters.repeated == 2)
        // A repeat forms no new pair: c(10, 11) counted once.
        #expect(state.cooccurrenceCount(10, 11) == 1)
        #expect(state.degree(of: 10) == 1)
    }

    @Test func exposuresAndZeroWeightTypesAreNotEngagements() {
        var c = CooccurrenceConfiguration()
        c.weights.comment = 0
        var state = CooccurrenceState(configuration: c)
        feed(&state, [engagement(1, 1, at: 0, .exposure), engagement(1, 2, at: 1, .comment), engagement(1, 3, at: 2)])
        #expect(state.history(user: 1).map(\.item) == [3])
        #expect(state.counters.notEngagements == 2)
    }

    @Test func engagementsOutsideTheWindowAreIgnoredAndOldItemsLeaveTheHistory() {
        var c = CooccurrenceConfiguration()
        c.windowMillis = 3_600_000
        var state = CooccurrenceState(configuration: c)
        feed(&state, [engagement(1, 1, at: 0), engagement(1, 2, at: 1_800)])
        // Exactly one window after item 1: its time equals the cutoff, so it is outside.
        feed(&state, [engagement(2, 9, at: 3_600)])
        #expect(state.history(user: 1).map(\.item) == [2])
        // A late engagement older than the window is dropped.
        state.apply(engagement(1, 5, at: 0), watermark: state.watermark!)
        #expect(state.counters.outsideWindow == 1)
        // Item 1 left user 1's window, so engaging it again is new and pairs with item 2 again.
        feed(&state, [engagement(1, 1, at: 3_601)])
        #expect(state.history(user: 1).map(\.item) == [1, 2])
        #expect(state.cooccurrenceCount(1, 2) == 2)
    }

    @Test func pathologicalUsersStopContributing() {
        var c = CooccurrenceConfiguration()
        c.historyLength = 3
        c.pathologicalUserItems = 4
        var state = CooccurrenceState(configuration: c)
        feed(&state, (0..<6).map { engagement(1, Int32($0), at: Int64($0)) })
        // Items 0...3 paired as usual (partners: the newest 3 - 1 = 2 others), then the cap is passed.
        #expect(state.degree(of: 3) == 1)
        #expect(state.degree(of: 4) == 0 && state.degree(of: 5) == 0)
        #expect(state.counters.pathological == 2)
        #expect(state.distinctItemCount(user: 1) == 4)
        #expect(state.history(user: 1).map(\.item) == [5, 4, 3])
    }
}
