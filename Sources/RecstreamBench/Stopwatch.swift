import Foundation

/// Wall time and the process's CPU time, for the benchmark and the evaluation. Process CPU time
/// (all threads) shows what several threads cost; wall time is what a job waits.
struct Stopwatch {
    private let wallStart: ContinuousClock.Instant
    private let cpuStart: Double

    init() {
        wallStart = ContinuousClock.now
        cpuStart = Self.processCPUSeconds()
    }

    var wallSeconds: Double {
        let (s, atto) = (ContinuousClock.now - wallStart).components
        return Double(s) + Double(atto) * 1e-18
    }

    var cpuSeconds: Double { Self.processCPUSeconds() - cpuStart }

    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs `body` and returns its result and wall seconds.
    static func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let s = Stopwatch()
        let r = try body()
        return (r, s.wallSeconds)
    }
}

/// Number formatting for the reports.
enum ReportFormat {
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    /// 1234567 → "1,234,567".
    static func grouped(_ x: Double) -> String {
        let n = Int(x.rounded())
        let digits = String(abs(n))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }

    static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        let rank = Int((q * Double(s.count)).rounded(.up)) - 1
        return s[min(max(rank, 0), s.count - 1)]
    }
}
