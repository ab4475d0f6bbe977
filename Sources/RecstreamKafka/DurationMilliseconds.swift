extension Duration {
    /// Whole milliseconds for librdkafka's `int timeout_ms` arguments: rounded up (so a
    /// positive duration never becomes a non-blocking 0), clamped to 0...Int32.max.
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        if millis.overflow { return Int32.max }
        let total = millis.partialValue.addingReportingOverflow((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        if total.overflow || total.partialValue > Int64(Int32.max) { return Int32.max }
        return Int32(total.partialValue)
    }
}
