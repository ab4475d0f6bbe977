import RecstreamCore

/// The JSON shape of one item's statistics (documented in Schemas/openapi.yaml, ItemStats).
struct ItemStatsBody: Encodable, Sendable {
    struct Window: Encodable, Sendable {
        var counts: [String: UInt64]
        var rates: [String: Double]
    }

    var itemID: String
    var now: Int64
    var windows: [String: Window]
    var lateDropped: [String: UInt64]

    enum CodingKeys: String, CodingKey {
        case itemID = "item_id"
        case now
        case windows
        case lateDropped = "late_dropped"
    }

    init(_ report: ItemStatsReport) {
        itemID = report.itemID
        now = report.now.millis
        var windows: [String: Window] = [:]
        for window in StatsWindow.allCases {
            windows[window.rawValue] = Window(
                counts: Dictionary(uniqueKeysWithValues: (report.counts[window] ?? [:]).map { ($0.key.name, $0.value) }),
                rates: Dictionary(uniqueKeysWithValues: (report.rates[window] ?? [:]).map { ($0.key.rawValue, $0.value) }))
        }
        windows["all"] = Window(
            counts: Dictionary(uniqueKeysWithValues: report.totals.map { ($0.key.name, $0.value) }),
            rates: Dictionary(uniqueKeysWithValues: report.totalRates.map { ($0.key.rawValue, $0.value) }))
        self.windows = windows
        lateDropped = Dictionary(uniqueKeysWithValues: report.lateDropped.map { ($0.key.name, $0.value) })
    }
}

/// `POST /v1/items/stats` request.
struct ItemStatsBatchRequest: Decodable, Sendable {
    var ids: [String]
}

/// `POST /v1/items/stats` response: `items` is aligned with the request (null where unknown).
struct ItemStatsBatchBody: Encodable, Sendable {
    var items: [ItemStatsBody?]
    var notFound: [String]

    enum CodingKeys: String, CodingKey {
        case items
        case notFound = "not_found"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        var list = c.nestedUnkeyedContainer(forKey: .items)
        for item in items {
            if let item { try list.encode(item) } else { try list.encodeNil() }
        }
        try c.encode(notFound, forKey: .notFound)
    }
}

/// The JSON shape of `GET /v1/status` (Schemas/openapi.yaml, Status).
struct StatusBody: Encodable, Sendable {
    var status: InstanceStatus

    func encode(to encoder: any Encoder) throws {
        try status.encode(to: encoder)
    }
}

/// `GET /readyz`: ready, or the reasons it is not.
struct Readiness: Encodable, Sendable {
    var ready: Bool
    var reasons: [String]
}

/// `GET /v1/items/top`.
struct TopItemsBody: Encodable, Sendable {
    struct Item: Encodable, Sendable {
        var itemID: String
        var count: UInt64
        enum CodingKeys: String, CodingKey {
            case itemID = "item_id"
            case count
        }
    }
    var type: String
    var window: String
    var items: [Item]

    init(type: String, window: String, items: [RankedItem]) {
        self.type = type
        self.window = window
        self.items = items.map { Item(itemID: $0.itemID, count: $0.count) }
    }
}

/// `POST /v1/admin/checkpoint`.
struct CheckpointBody: Encodable, Sendable {
    var path: String
    var offsets: [String: Int64]
    var bytes: Int64

    init(_ report: CheckpointReport) {
        path = report.path
        offsets = Dictionary(uniqueKeysWithValues: report.offsets.map { (String($0.key), $0.value) })
        bytes = report.bytes
    }
}

/// A neighbour in an answer.
struct SimilarEntry: Encodable, Sendable {
    var itemID: String
    var score: Double
    enum CodingKeys: String, CodingKey {
        case itemID = "item_id"
        case score
    }
}

/// `GET /v1/items/{id}/similar`.
struct SimilarBody: Encodable, Sendable {
    var itemID: String
    var method: String
    var items: [SimilarEntry]
    enum CodingKeys: String, CodingKey {
        case itemID = "item_id"
        case method
        case items
    }

    init(itemID: String, method: String, items: [SimilarItem]) {
        self.itemID = itemID
        self.method = method
        self.items = items.map { SimilarEntry(itemID: $0.itemID, score: $0.score) }
    }
}

/// `POST /v1/items/similar` request.
struct SimilarBatchRequest: Decodable, Sendable {
    var items: [String]
    var method: String?
    var k: Int?
    var userID: String?
    enum CodingKeys: String, CodingKey {
        case items
        case method
        case k
        case userID = "user_id"
    }
}

/// `POST /v1/items/similar` response.
struct SimilarBatchBody: Encodable, Sendable {
    var method: String
    var items: [SimilarEntry]

    init(method: String, items: [SimilarItem]) {
        self.method = method
        self.items = items.map { SimilarEntry(itemID: $0.itemID, score: $0.score) }
    }
}

/// `GET /v1/users/{id}/history`.
struct HistoryBody: Encodable, Sendable {
    struct Entry: Encodable, Sendable {
        var itemID: String
        var type: String
        var ts: Int64
        var weight: Double
        enum CodingKeys: String, CodingKey {
            case itemID = "item_id"
            case type
            case ts
            case weight
        }
    }
    var userID: String
    var items: [Entry]
    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case items
    }

    init(userID: String, items: [HistoryItem]) {
        self.userID = userID
        self.items = items.map { Entry(itemID: $0.itemID, type: $0.type.name, ts: $0.timeMillis, weight: $0.weight) }
    }
}

/// `POST /v1/admin/recompute`.
struct RecomputeBody: Encodable, Sendable {
    var engagements: Int
    var engagementsInWindow: Int
    var items: Int
    var windowEndMillis: Int64
    var seconds: Double
    var swapped: Bool
    enum CodingKeys: String, CodingKey {
        case engagements
        case engagementsInWindow = "engagements_in_window"
        case items
        case windowEndMillis = "window_end_millis"
        case seconds
        case swapped
    }

    init(_ r: RecomputeReport) {
        engagements = r.engagements
        engagementsInWindow = r.engagementsInWindow
        items = r.items
        windowEndMillis = r.windowEndMillis
        seconds = r.seconds
        swapped = r.swapped
    }
}

/// `POST /v1/users/{id}/exposures/filter` request and response.
struct ExposureFilterRequest: Decodable, Sendable {
    var items: [String]
}

struct ExposureFilterBody: Encodable, Sendable {
    var userID: String
    /// The candidates the user was not shown yet, in the order given.
    var items: [String]
    var removed: Int
    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case items
        case removed
    }
}

/// `POST /v1/exposures/check`.
struct ExposureCheckRequest: Decodable, Sendable {
    struct Pair: Decodable, Sendable {
        var userID: String
        var itemID: String
        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case itemID = "item_id"
        }
    }
    var pairs: [Pair]
}

struct ExposureCheckBody: Encodable, Sendable {
    /// Aligned with the request's pairs.
    var exposed: [Bool]
}

/// `GET /v1/users/{id}/exposures/summary`; an unknown user has no slices.
struct ExposureSummaryBody: Encodable, Sendable {
    struct Slice: Encodable, Sendable {
        var startMillis: Int64
        var endMillis: Int64
        var estimatedCount: Int
        var bytes: Int
        var estimatedFPR: Double
        enum CodingKeys: String, CodingKey {
            case startMillis = "start_millis"
            case endMillis = "end_millis"
            case estimatedCount = "estimated_count"
            case bytes
            case estimatedFPR = "estimated_fpr"
        }
    }
    var userID: String
    var retentionDays: Int?
    var sliceLengthMillis: Int64?
    var slices: [Slice]
    var estimatedCount: Int
    var bytes: Int
    var estimatedFPR: Double
    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case retentionDays = "retention_days"
        case sliceLengthMillis = "slice_length_millis"
        case slices
        case estimatedCount = "estimated_count"
        case bytes
        case estimatedFPR = "estimated_fpr"
    }

    init(userID: String, summary: ExposureSummary?) {
        self.userID = userID
        retentionDays = summary?.retentionDays
        sliceLengthMillis = summary?.sliceLengthMillis
        slices = (summary?.slices ?? []).map {
            Slice(startMillis: $0.start.millis, endMillis: $0.end.millis, estimatedCount: $0.estimatedCount, bytes: $0.byteCount, estimatedFPR: $0.estimatedFalsePositiveRate)
        }
        estimatedCount = summary?.estimatedCount ?? 0
        bytes = summary?.byteCount ?? 0
        estimatedFPR = summary?.estimatedFalsePositiveRate ?? 0
    }
}

/// `GET /v1/cluster` (split mode): this instance's URL and every fresh ownership claim of the group.
struct ClusterBody: Encodable, Sendable {
    var selfURL: String?
    var instances: [OwnershipClaim]
}
