import RecstreamCore

/// The straightforward form of the exposure-filter family, kept as the reference for
/// ``ExposureFilters``: one ``ExposureFilter`` value per user in an array, the same round-robin
/// sweep, and the store image it implies (one record per held slice). The compact family must
/// hold the same filters, give the same answers and leave the same store image.
struct PlainExposureFilters {
    let configuration: ExposureFilterConfiguration
    private(set) var filters: [ExposureFilter] = []
    private var sweepCursor = 0

    init(configuration: ExposureFilterConfiguration) { self.configuration = configuration }

    private mutating func ensure(_ user: Int32) {
        let needed = Int(user) + 1
        if filters.count < needed {
            filters.append(
                contentsOf: repeatElement(ExposureFilter(configuration: configuration), count: needed - filters.count))
        }
    }

    mutating func recordExposure(user: Int32, itemHash: ExposureHash, at time: EventTime, watermark: EventTime) {
        ensure(user)
        filters[Int(user)].insert(itemHash, at: time, watermark: watermark, configuration: configuration)
        expire(watermark: max(time, watermark), maxUsers: configuration.sweepUsersPerExposure)
    }

    mutating func expire(watermark: EventTime, maxUsers: Int) {
        for _ in 0..<min(max(maxUsers, 0), filters.count) {
            if sweepCursor >= filters.count { sweepCursor = 0 }
            let u = sweepCursor
            sweepCursor += 1
            if filters[u].hasExpiredSlices(watermark: watermark) { filters[u].expire(watermark: watermark) }
        }
    }

    mutating func removeSlices(after time: EventTime) -> Int {
        filters.indices.reduce(0) { $0 + filters[$1].removeSlices(after: time) }
    }

    func contains(user: Int32, itemHash: ExposureHash, watermark: EventTime) -> Bool {
        Int(user) < filters.count && filters[Int(user)].contains(itemHash, watermark: watermark)
    }

    func filter(of user: Int32) -> ExposureFilter? {
        Int(user) < filters.count && !filters[Int(user)].isEmpty ? filters[Int(user)] : nil
    }

    var entryCount: Int { filters.count(where: { !$0.isEmpty }) }

    /// The store a family holding these filters leaves: per held slice, key = user (BE32) and
    /// slice index (BE64, sign flipped), value = version 2, N and s (varints), the slice's
    /// scalable filter. Written out here independently of ``ExposureFilters``.
    var storeImage: [[UInt8]: [UInt8]] {
        var image: [[UInt8]: [UInt8]] = [:]
        for (u, filter) in filters.enumerated() {
            for slice in filter.slices {
                var key = BinaryWriter()
                key.appendBigEndian(UInt32(u))
                key.appendBigEndian(UInt64(bitPattern: slice.index) ^ (1 << 63))
                var value = BinaryWriter()
                value.append(2)
                value.appendVarint(UInt64(filter.retentionDays))
                value.appendVarint(UInt64(filter.sliceCount))
                slice.filter.encode(into: &value)
                image[key.bytes] = value.bytes
            }
        }
        return image
    }

    /// A plain family holding the filters of `image` (sweep position 0, as after a restart).
    init(configuration: ExposureFilterConfiguration, image: [[UInt8]: [UInt8]]) throws {
        self.configuration = configuration
        var slices: [Int32: (days: Int, s: Int, slices: [(index: Int64, filter: ScalableBloomFilter)])] = [:]
        for (key, value) in image {
            var keyReader = BinaryReader(key)
            let user = Int32(bitPattern: try keyReader.readBigEndianUInt32())
            let index = Int64(bitPattern: try keyReader.readBigEndianUInt64() ^ (1 << 63))
            var reader = BinaryReader(value)
            _ = try reader.readByte()
            let days = Int(try reader.readVarint())
            let s = Int(try reader.readVarint())
            let filter = try ScalableBloomFilter.decode(from: &reader)
            slices[user, default: (days, s, [])].slices.append((index, filter))
        }
        for (user, entry) in slices {
            // Rebuilt through the version-1 encoding, the only public way to assemble a filter.
            var writer = BinaryWriter()
            writer.append(ExposureFilter.formatVersion)
            writer.appendVarint(UInt64(entry.days))
            writer.appendVarint(UInt64(entry.s))
            let sorted = entry.slices.sorted { $0.index < $1.index }
            writer.appendVarint(UInt64(sorted.count))
            var previous: Int64? = nil
            for slice in sorted {
                if let previous { writer.appendVarint(UInt64(slice.index - previous)) } else { writer.appendSignedVarint(slice.index) }
                previous = slice.index
                slice.filter.encode(into: &writer)
            }
            var reader = BinaryReader(writer.bytes)
            ensure(user)
            filters[Int(user)] = try ExposureFilter.decode(from: &reader)
        }
    }
}
