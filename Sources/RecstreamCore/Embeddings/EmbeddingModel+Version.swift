extension EmbeddingModel {
    /// The same model under another version number. The runtime numbers a publish past every
    /// version already on disk (after a rollback, `served.minor + 1` may exist already); the
    /// tables, lineage (`parent`) and metrics stay as trained.
    public func renumbered(_ version: EmbeddingModelVersion) -> EmbeddingModel {
        var out = self
        out.metadata.version = version
        return out
    }
}

extension EmbeddingModelVersion {
    /// Parses `major.minor` (as ``description`` writes it); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else { return nil }
        self.init(major: major, minor: minor)
    }
}
