import Foundation

/// Wall time and CPU time, for the benchmarks and the evaluations. Process CPU time (all threads)
/// shows what several threads cost; wall time is what a job waits; the calling thread's CPU time
/// (``threadCPUSeconds()``) is what one core does, unaffected by other processes taking turns on it.
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

    /// CPU time of the calling thread, in seconds.
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs `body` and returns its result and wall seconds.
    static func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let s = Stopwatch()
        let r = try body()
        return (r, s.wallSeconds)
    }
}

/// Number formatting for the reports (and the CLI's progress lines).
public enum ReportFormat {
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    /// 1234567.4 → "1,234,567" (rounded to the nearest integer).
    static func grouped(_ x: Double) -> String { grouped(Int(x.rounded())) }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }
}
