/// A section of a format-2 model file: `byteCount` bytes from byte `offset`.
struct ModelSection: Sendable, Hashable {
    var offset: Int
    var byteCount: Int
}

/// One side (users or items) of a model read in place from format 2: the id → row column, the
/// counts and last-seen times by id, and by row (rows in ascending id order) the owner id, the
/// vector and the Adagrad accumulator. Every read goes through ``ModelBytes``; the format's
/// validation (``EmbeddingModel/open(_:verifiesChecksum:)``) makes every row index in range.
struct MappedEmbeddingTable: Sendable {
    let bytes: ModelBytes
    let idLimit: Int
    let rowCount: Int
    let chunks: Int
    /// Byte offsets of the columns.
    let rowsAt: Int
    let countsAt: Int
    let lastSeenAt: Int
    let ownersAt: Int
    let vectorsAt: Int
    let accumulatorsAt: Int

    var rowBytes: Int { chunks * 32 }

    @inline(__always) func row(_ id: Int32) -> Int {
        id >= 0 && Int(id) < idLimit ? Int(bytes.int32(at: rowsAt + 4 * Int(id))) : -1
    }

    @inline(__always) func owner(row r: Int) -> Int32 { bytes.int32(at: ownersAt + 4 * r) }

    func count(_ id: Int) -> UInt32 { bytes.uint32(at: countsAt + 4 * id) }

    func lastSeenMillis(_ id: Int) -> Int64 { bytes.int64(at: lastSeenAt + 8 * id) }

    /// Byte offset of row `r`'s vector.
    @inline(__always) func vectorOffset(row r: Int) -> Int { vectorsAt + r * rowBytes }

    func vectorChunks(row r: Int) -> [SIMD8<Float>] { bytes.chunks(at: vectorOffset(row: r), count: chunks) }

    func accumulatorChunks(row r: Int) -> [SIMD8<Float>] {
        bytes.chunks(at: accumulatorsAt + r * rowBytes, count: chunks)
    }
}

/// The fallback lists of a model read in place: users below the threshold (ascending), where
/// each one's list starts, and the lists' items.
struct MappedFallbackLists: Sendable {
    let bytes: ModelBytes
    let userCount: Int
    let usersAt: Int
    let startsAt: Int
    let itemsAt: Int

    func user(_ k: Int) -> Int32 { bytes.int32(at: usersAt + 4 * k) }

    /// Binary search over the users: O(log n).
    func items(user: Int32) -> [Int32] {
        var low = 0
        var high = userCount
        while low < high {
            let mid = (low + high) / 2
            let u = self.user(mid)
            if u == user {
                return items(at: mid)
            } else if u < user {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return []
    }

    func items(at k: Int) -> [Int32] {
        let start = Int(bytes.uint32(at: startsAt + 4 * k))
        let end = Int(bytes.uint32(at: startsAt + 4 * (k + 1)))
        return (start..<end).map { bytes.int32(at: itemsAt + 4 * $0) }
    }
}

/// The item index stored in a format-2 file: the IVF lists' entries (item ids and unit vectors,
/// in list order) read in place, and the popularity order (items with a vector, most engaged
/// first). The centroids and list starts are small (O(√items)) and copied out at open.
struct MappedItemIndex: Sendable {
    let bytes: ModelBytes
    let centroids: [SIMD8<Float>]
    let listStarts: [Int]
    let entryCount: Int
    let itemsAt: Int
    let vectorsAt: Int
    let popularAt: Int
    let chunks: Int

    @inline(__always) func item(_ e: Int) -> Int32 { bytes.int32(at: itemsAt + 4 * e) }

    @inline(__always) func vectorOffset(_ e: Int) -> Int { vectorsAt + e * chunks * 32 }

    func popular(_ k: Int) -> Int32 { bytes.int32(at: popularAt + 4 * k) }
}

/// What a model read in place holds besides its two tables.
struct MappedModelParts: Sendable {
    let bytes: ModelBytes
    let fallback: MappedFallbackLists
    let index: MappedItemIndex
}
