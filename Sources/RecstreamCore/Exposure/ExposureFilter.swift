/// One user's exposure memory: "was item X shown to this user within the last N days of event
/// time?", as time slices of ``ScalableBloomFilter``s.
///
/// Slice j covers event time [j·L, (j+1)·L) (aligned to the epoch), L = ⌈N / s⌉. An exposure at
/// t goes into the slice of t, whatever the watermark (a late exposure lands in its own slice,
/// created if needed). With watermark W (the largest event time of the shard, passed in: there is
/// no clock), a slice is live while its end > W − N; expired slices are dropped on the next insert
/// or ``expire(watermark:)`` and ignored by lookups before that.
///
/// Guarantee, for an exposure inserted at t:
/// - remembered (``contains(_:watermark:)`` is true) while W < t + N: no false negatives;
/// - forgotten (its slice is gone) once W ≥ t + N + L, at most one slice length late;
/// - any other item answers true with probability at most the configured target: a check ORs
///   at most s + 1 live slices, each a scalable filter bounded by target / (s + 1).
///
/// Geometry: a filter keeps the retention and slice count it was created with (they are
/// persisted, so its slices are never misread) until it is empty; then the next insert adopts
/// the configuration's. Error and growth settings apply to sub-filters as they are added.
///
/// Cost: an insert touches the slice of its time (the newest one for in-order events) and drops
/// expired slices; a lookup probes at most s + 1 slices, newest first, each stopping at its first
/// clear bit (a fingerprint set compares its fingerprints). Memory: the sub-filters' bits or
/// fingerprints plus, in Swift, about 100 bytes per slice of array headers and inline values
/// (serialized: about 8 bytes per slice).
public struct ExposureFilter: Sendable, Hashable {
    /// One time slice: its index j (covering [j·L, (j+1)·L)) and its filter.
    public struct Slice: Sendable, Hashable {
        public let index: Int64
        public internal(set) var filter: ScalableBloomFilter
    }

    /// What ``insert(_:at:watermark:configuration:)`` did.
    public enum InsertOutcome: Sendable, Hashable {
        /// Bits were set.
        case inserted
        /// The item already answered true in its slice: nothing changed.
        case alreadyPresent
        /// The exposure is older than the retention: it would be forgotten at once, so it was
        /// not stored.
        case expired
    }

    /// The persisted format version (the leading byte of ``encode(into:)``).
    public static let formatVersion: UInt8 = 1

    /// Slices ascending by index; at most s + 1.
    public private(set) var slices: [Slice] = []
    private var retention: UInt16
    private var slicesPerRetention: UInt16

    /// An empty filter with the configuration's geometry.
    public init(configuration: ExposureFilterConfiguration = ExposureFilterConfiguration()) {
        (retention, slicesPerRetention) = Self.geometry(configuration)
    }

    /// A filter of the given geometry and slices, ascending by index (for
    /// ``ExposureFilters/filter(of:)``).
    init(retentionDays: Int, sliceCount: Int, slices: [Slice]) {
        (retention, slicesPerRetention) = Self.geometry(
            ExposureFilterConfiguration(retentionDays: retentionDays, sliceCount: sliceCount))
        self.slices = slices
    }

    private static func geometry(_ configuration: ExposureFilterConfiguration) -> (UInt16, UInt16) {
        precondition(
            (1...ExposureFilterConfiguration.maximumRetentionDays).contains(configuration.retentionDays)
                && (1...ExposureFilterConfiguration.maximumSliceCount).contains(configuration.sliceCount),
            "exposure filter geometry out of range: \(configuration.retentionDays) days, "
                + "\(configuration.sliceCount) slices"
        )
        return (UInt16(configuration.retentionDays), UInt16(configuration.sliceCount))
    }

    /// N of this filter (see the type's note on geometry).
    public var retentionDays: Int { Int(retention) }
    /// s of this filter.
    public var sliceCount: Int { Int(slicesPerRetention) }
    public var retentionMillis: Int64 { Int64(retention) * ExposureFilterConfiguration.millisPerDay }
    /// L = ⌈N / s⌉.
    public var sliceLengthMillis: Int64 {
        ExposureFilterConfiguration.sliceLengthMillis(retentionDays: retentionDays, sliceCount: sliceCount)
    }

    /// Whether no slice is held (nothing to persist).
    public var isEmpty: Bool { slices.isEmpty }

    /// The start of slice `index`: index · L.
    public func start(ofSlice index: Int64) -> EventTime { EventTime(millis: index * sliceLengthMillis) }
    /// The end (exclusive) of slice `index`: (index + 1) · L.
    public func end(ofSlice index: Int64) -> EventTime { EventTime(millis: (index + 1) * sliceLengthMillis) }
    /// The index of the slice covering `time`: ⌊t / L⌋.
    public func sliceIndex(of time: EventTime) -> Int64 { Self.floorDivide(time.millis, sliceLengthMillis) }

    @inline(__always) private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// W − N, saturating: slices ending at or before it are expired.
    @inline(__always) private func cutoff(_ watermark: Int64) -> Int64 {
        let (value, overflow) = watermark.subtractingReportingOverflow(retentionMillis)
        return overflow ? Int64.min : value
    }

    @inline(__always) private func isLive(_ index: Int64, cutoff: Int64) -> Bool {
        (index + 1) * sliceLengthMillis > cutoff
    }

    // MARK: Updates

    /// Remembers an exposure of `hash` at `time`. `watermark` is the shard's largest event time
    /// (normally ≥ `time`); slices expired relative to max(time, watermark, the newest slice's
    /// start) are dropped first. The configuration supplies the error and growth settings of any
    /// sub-filter added, and the geometry if the filter is empty.
    ///
    /// Cost: O(1) for an in-order exposure plus, when a sub-filter is added, its allocation.
    @discardableResult
    public mutating func insert(
        _ hash: ExposureHash, at time: EventTime, watermark: EventTime, configuration: ExposureFilterConfiguration
    ) -> InsertOutcome {
        precondition(
            time.millis > -EventTime.limitMillis && time.millis < EventTime.limitMillis,
            "exposure time \(time) is outside ±\(EventTime.limitMillis) ms")
        var now = max(time.millis, watermark.millis)
        if let newest = slices.last {
            now = max(now, newest.index * sliceLengthMillis)
            dropExpired(cutoff: cutoff(now))
        }
        if slices.isEmpty { (retention, slicesPerRetention) = Self.geometry(configuration) }
        let length = sliceLengthMillis
        let limit = cutoff(now)
        let j = Self.floorDivide(time.millis, length)
        guard isLive(j, cutoff: limit) else { return .expired }

        var position = slices.count
        while position > 0 && slices[position - 1].index > j { position -= 1 }
        if position == 0 || slices[position - 1].index != j {
            slices.insert(Slice(index: j, filter: ScalableBloomFilter()), at: position)
            position += 1
        }
        let k = position - 1
        var hint: Int? = nil
        if configuration.capacityPolicy == .adaptive && slices[k].filter.needsNewFilter {
            hint = capacityHint(slice: k, now: now)
        }
        let parameters = configuration.sliceParameters(sliceCount: sliceCount)
        return slices[k].filter.insert(hash, parameters: parameters, capacityHint: hint) ? .inserted : .alreadyPresent
    }

    /// The adaptive size of the sub-filter about to be added to slice `k`: the exposures expected
    /// in the rest of the slice. A new slice extrapolates the previous slice's rate over the time
    /// it has left (nil, i.e. c₀, without an adjacent previous slice); a full one extrapolates its
    /// own rate so far (nil, i.e. Almeida's step, when no time has passed). Once the slice's end
    /// has passed, only stragglers can arrive: 0, i.e. the smallest sub-filter allowed.
    private func capacityHint(slice k: Int, now: Int64) -> Int? {
        let length = sliceLengthMillis
        let start = slices[k].index * length
        let end = start + length
        let clock = min(max(now, start), end)
        let remaining = Double(end - clock)
        let expected: Double
        if slices[k].filter.isEmpty {
            guard k > 0, slices[k - 1].index == slices[k].index - 1 else { return nil }
            expected = Double(slices[k - 1].filter.count) * remaining / Double(length)
        } else {
            let elapsed = Double(clock - start)
            guard elapsed > 0 else { return nil }
            expected = Double(slices[k].filter.count) * remaining / elapsed
        }
        return Int(min(expected.rounded(.up), Double(BloomFilter.maximumCapacity)))
    }

    /// Drops every slice that starts after `time` (repairing a state a far-future exposure
    /// reached). Returns how many.
    @discardableResult
    public mutating func removeSlices(after time: EventTime) -> Int {
        let before = slices.count
        let length = sliceLengthMillis
        slices.removeAll { $0.index * length > time.millis }
        return before - slices.count
    }

    /// Drops slices that expired by `watermark` (end ≤ watermark − N). Returns how many.
    @discardableResult
    public mutating func expire(watermark: EventTime) -> Int {
        dropExpired(cutoff: cutoff(watermark.millis))
    }

    /// Whether ``expire(watermark:)`` would drop anything. Cost: O(1).
    public func hasExpiredSlices(watermark: EventTime) -> Bool {
        guard let oldest = slices.first else { return false }
        return !isLive(oldest.index, cutoff: cutoff(watermark.millis))
    }

    @discardableResult
    private mutating func dropExpired(cutoff limit: Int64) -> Int {
        var n = 0
        while n < slices.count && !isLive(slices[n].index, cutoff: limit) { n += 1 }
        if n > 0 { slices.removeFirst(n) }
        return n
    }

    // MARK: Lookups

    /// Whether `hash` was inserted in a slice still live at `watermark`: true for every exposure
    /// at t with watermark < t + N; for an item never shown, true with probability at most the
    /// target.
    public func contains(_ hash: ExposureHash, watermark: EventTime) -> Bool {
        let limit = cutoff(watermark.millis)
        var i = slices.count
        while i > 0 {
            i -= 1
            // Ascending: once one slice is expired, all older ones are.
            guard isLive(slices[i].index, cutoff: limit) else { return false }
            if slices[i].filter.contains(hash) { return true }
        }
        return false
    }

    /// The slices live at `watermark`, oldest first.
    public func liveSlices(watermark: EventTime) -> ArraySlice<Slice> {
        let limit = cutoff(watermark.millis)
        var first = 0
        while first < slices.count && !isLive(slices[first].index, cutoff: limit) { first += 1 }
        return slices[first...]
    }

    /// Distinct insertions over the live slices (an item shown in two slices counts twice).
    public func estimatedCount(watermark: EventTime) -> Int {
        liveSlices(watermark: watermark).reduce(0) { $0 + $1.filter.count }
    }

    /// A whole check's false-positive rate as the bits are now: 1 − Π over live slices of
    /// (1 − the slice's rate).
    public func estimatedFalsePositiveRate(watermark: EventTime) -> Double {
        1 - liveSlices(watermark: watermark).reduce(1.0) { $0 * (1 - $1.filter.estimatedFalsePositiveRate) }
    }

    /// Bytes of bits over every held slice.
    public var byteCount: Int { slices.reduce(0) { $0 + $1.filter.byteCount } }

    /// Heap and inline bytes held, counting array headers.
    public var approximateBytes: Int {
        let inline = MemoryLayout<ScalableBloomFilter>.stride
        return MemoryLayout<ExposureFilter>.stride
            + (slices.capacity == 0 ? 0 : arrayHeaderBytes + slices.capacity * MemoryLayout<Slice>.stride)
            + slices.reduce(0) { $0 + $1.filter.approximateBytes - inline }
    }

    /// The live slices with their time ranges, counts, bytes and estimated rates.
    public func summary(watermark: EventTime) -> ExposureSummary {
        let live = liveSlices(watermark: watermark)
        return ExposureSummary(
            retentionDays: retentionDays,
            sliceLengthMillis: sliceLengthMillis,
            slices: live.map { slice in
                ExposureSummary.Slice(
                    start: start(ofSlice: slice.index), end: end(ofSlice: slice.index),
                    estimatedCount: slice.filter.count, capacity: slice.filter.filters.reduce(0) { $0 + $1.capacity },
                    subFilterCount: slice.filter.filters.count, byteCount: slice.filter.byteCount,
                    estimatedFalsePositiveRate: slice.filter.estimatedFalsePositiveRate)
            },
            estimatedCount: estimatedCount(watermark: watermark),
            byteCount: live.reduce(0) { $0 + $1.filter.byteCount },
            estimatedFalsePositiveRate: estimatedFalsePositiveRate(watermark: watermark))
    }

    // MARK: Persistence

    /// Appends the format version byte, N (days) and s as varints, the slice count, and each
    /// slice: its index (zig-zag varint for the first, then the varint gap to the previous) and
    /// its ``ScalableBloomFilter``.
    public func encode(into writer: inout BinaryWriter) {
        writer.append(Self.formatVersion)
        writer.appendVarint(UInt64(retention))
        writer.appendVarint(UInt64(slicesPerRetention))
        writer.appendVarint(UInt64(slices.count))
        var previous: Int64? = nil
        for slice in slices {
            if let previous {
                writer.appendVarint(UInt64(slice.index - previous))
            } else {
                writer.appendSignedVarint(slice.index)
            }
            previous = slice.index
            slice.filter.encode(into: &writer)
        }
    }

    /// The size of ``encode(into:)``'s output.
    public var encodedByteCount: Int {
        var n =
            1 + varintLength(UInt64(retention)) + varintLength(UInt64(slicesPerRetention))
            + varintLength(UInt64(slices.count))
        var previous: Int64? = nil
        for slice in slices {
            if let previous {
                n += varintLength(UInt64(slice.index - previous))
            } else {
                n += varintLength(UInt64(bitPattern: (slice.index << 1) ^ (slice.index >> 63)))
            }
            previous = slice.index
            n += slice.filter.encodedByteCount
        }
        return n
    }

    /// Reads what ``encode(into:)`` wrote; the result equals the encoded filter.
    ///
    /// - Throws: ``StateDecodingError`` when the record is truncated, has another format version,
    ///   or holds out-of-range geometry, unordered or empty slices.
    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> ExposureFilter {
        let version = try reader.readByte()
        guard version == formatVersion else { throw StateDecodingError("exposure filter format version \(version)") }
        let (days, s) = try decodeGeometry(from: &reader)
        var filter = ExposureFilter(configuration: ExposureFilterConfiguration(retentionDays: days, sliceCount: s))
        let n = try reader.readVarint()
        guard n <= UInt64(s) + 1 else { throw StateDecodingError("\(n) slices for a slice count of \(s)") }
        filter.slices.reserveCapacity(Int(n))
        var previous: Int64? = nil
        for _ in 0..<Int(n) {
            let index: Int64
            if let previous {
                let gap = try reader.readVarint()
                guard gap >= 1, gap <= UInt64(ExposureFilterConfiguration.maximumSliceCount) + 1 else {
                    throw StateDecodingError("slice gap \(gap)")
                }
                index = previous + Int64(gap)
            } else {
                index = try reader.readSignedVarint()
            }
            // Slices cover event times within ±EventTime.limitMillis, so (index + 1) · L cannot overflow.
            let bound = EventTime.limitMillis / filter.sliceLengthMillis + 1
            guard index >= -bound, index <= bound else { throw StateDecodingError("slice index \(index)") }
            previous = index
            let sliceFilter = try ScalableBloomFilter.decode(from: &reader)
            guard !sliceFilter.isEmpty else { throw StateDecodingError("empty slice \(index)") }
            filter.slices.append(Slice(index: index, filter: sliceFilter))
        }
        return filter
    }

    /// Reads and checks N (days) and s as ``encode(into:)`` writes them after the version byte
    /// (the per-slice records of ``ExposureFilters`` begin the same way).
    static func decodeGeometry(from reader: inout BinaryReader) throws(StateDecodingError) -> (retentionDays: Int, sliceCount: Int) {
        let days = try reader.readVarint()
        guard days >= 1, days <= UInt64(ExposureFilterConfiguration.maximumRetentionDays) else {
            throw StateDecodingError("exposure filter retention of \(days) days")
        }
        let s = try reader.readVarint()
        guard s >= 1, s <= UInt64(ExposureFilterConfiguration.maximumSliceCount) else {
            throw StateDecodingError("exposure filter slice count \(s)")
        }
        return (Int(days), Int(s))
    }
}
