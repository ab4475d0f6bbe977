/// Limits of the event contract shared by the decoder and the query API.
public enum EventDecoderLimits {
    /// Ids (event, user, item) are 1 to this many bytes of UTF-8.
    public static let maxIDBytes = 128
}
