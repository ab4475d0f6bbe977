import CRdKafka

/// Where a consumer starts reading a partition it has been assigned.
public enum StartOffset: Sendable, Hashable {
    /// The record at this absolute offset (typically a stored "next offset").
    case offset(Int64)
    /// The oldest record the broker still has (the low watermark).
    case beginning
    /// Only records produced after the assignment (the high watermark).
    case end

    /// The librdkafka encoding: the offset itself or a logical constant.
    var native: Int64 {
        switch self {
        case .offset(let offset): offset
        case .beginning: Int64(RD_KAFKA_OFFSET_BEGINNING)
        case .end: Int64(RD_KAFKA_OFFSET_END)
        }
    }
}
