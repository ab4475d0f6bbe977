import Foundation
import RecstreamCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Published embedding models on disk, one directory per version, and the `CURRENT` pointer:
///
///     <state dir>/models/CURRENT          "3.2\n": the version served
///     <state dir>/models/3.2/model.bin    EmbeddingModel.encode(index:), format 2, self-checking
///     <state dir>/models/3.2/manifest.json  version, kind, parent, window, metrics, checksum of model.bin
///
/// Publish protocol (crash-safe at every step): write both files into `.tmp-<version>-<random>`,
/// fsync them and the directory, rename it to `<version>`, fsync `models/`; map the new model.bin
/// (see ``load(_:)``); then write `CURRENT.tmp`, fsync, rename over `CURRENT`, fsync `models/`. A
/// crash before the last rename leaves the previous version served; ``recover()`` removes
/// temporary and incomplete directories at start. Loading checks model.bin's size and checksum
/// against the manifest (read through a fixed buffer, not into the heap) and then maps the file
/// read-only: a format-2 model is served in place from the mapping, a format-1 one (published by
/// earlier versions) is decoded into the heap as before. A damaged model is never served. A
/// version the publish gate held back is written the same way but `CURRENT` is not switched to
/// it, and it is never served by default (only by an explicit rollback to it).
///
/// - Important: Not synchronised; one owner (the embedding jobs actor) calls it.
public struct ModelStore: Sendable {
    public let directory: String
    static let currentName = "CURRENT"
    static let modelName = "model.bin"
    static let manifestName = "manifest.json"
    /// Publishes started by this process (numbers the crash test's `*-model-*` points).
    static let publishes = Atomic<Int>(0)

    public init(directory: String) {
        self.directory = directory
    }

    /// Why a version cannot be loaded or served.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String

        package init(description: String) { self.description = description }
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    // MARK: Reading

    /// Removes what an interrupted publish left: temporary directories, `CURRENT.tmp`, and version
    /// directories without a readable manifest and model file. Returns the names removed.
    @discardableResult
    public func recover() throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let incomplete: Bool
            if name.hasPrefix(".tmp-") || name == Self.currentName + ".tmp" {
                incomplete = true
            } else if EmbeddingModelVersion(name) != nil {
                incomplete = manifest(name) == nil || !FileManager.default.fileExists(atPath: path(name + "/" + Self.modelName))
            } else {
                incomplete = false
            }
            if incomplete {
                try? FileManager.default.removeItem(atPath: path(name))
                removed.append(name)
            }
        }
        return removed.sorted()
    }

    /// The manifest of the version directory `name`, or nil when missing or unreadable.
    func manifest(_ name: String) -> ModelManifest? {
        guard let data = FileManager.default.contents(atPath: path(name + "/" + Self.manifestName)) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let m = try? decoder.decode(ModelManifest.self, from: data), m.version == name else { return nil }
        return m
    }

    /// Every complete version, newest first.
    public func versions() -> [ModelManifest] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let parsed = names.compactMap { name in EmbeddingModelVersion(name).map { ($0, name) } }
        return parsed.sorted { $0.0 > $1.0 }.compactMap { manifest($0.1) }
    }

    /// The version `CURRENT` names, or nil when there is none.
    public func current() -> EmbeddingModelVersion? {
        guard let data = FileManager.default.contents(atPath: path(Self.currentName)) else { return nil }
        return EmbeddingModelVersion(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Verifies `version` and reads it for serving: model.bin's size and checksum must match the
    /// manifest (checked by reading the file through a 1 MiB buffer), then the file is mapped
    /// read-only and opened in place (``EmbeddingModel/open(_:verifiesChecksum:)``: format 2 keeps
    /// nothing per id in the heap; format 1 is decoded into the heap as before). The mapping lives
    /// as long as the returned model (and any index or retriever built on it).
    /// - Throws: ``Failure`` when it is missing, its size or checksum differs from the manifest's,
    ///   it cannot be mapped, or the blob does not open.
    public func load(_ version: EmbeddingModelVersion) throws(Failure) -> EmbeddingModel {
        let name = version.description
        guard let manifest = manifest(name) else { throw Failure(description: "model \(name) is not published (no manifest)") }
        let file = path(name + "/" + Self.modelName)
        guard FileManager.default.fileExists(atPath: file) else {
            throw Failure(description: "model \(name): \(Self.modelName) is missing")
        }
        let (size, sum) = try Self.checksum(file: file)
        guard size == manifest.bytes else {
            throw Failure(description: "model \(name): \(Self.modelName) has \(size) bytes, the manifest says \(manifest.bytes)")
        }
        guard sum == manifest.checksum else {
            throw Failure(description: "model \(name): checksum \(sum) differs from the manifest's \(manifest.checksum)")
        }
        let mapping = try ModelFileMapping(path: file)
        guard mapping.count == size else {
            throw Failure(description: "model \(name): \(Self.modelName) changed size while it was read (\(size), then \(mapping.count) bytes)")
        }
        let model: EmbeddingModel
        do { model = try EmbeddingModel.open(mapping.bytes, verifiesChecksum: false) } catch {
            throw Failure(description: "model \(name): \(error)")
        }
        guard model.metadata.version == version else {
            throw Failure(description: "model \(name) holds version \(model.metadata.version)")
        }
        return model
    }

    /// The model to serve at start: `CURRENT` if it loads, else the newest version that does and
    /// that the publish gate did not hold back (then `CURRENT` is switched to it). Nil when nothing
    /// loads; `problems` lists what was skipped.
    public func loadServable() -> (model: EmbeddingModel?, problems: [String]) {
        var problems: [String] = []
        var candidates = versions().filter { $0.gate?.isHeldBack != true }.compactMap { EmbeddingModelVersion($0.version) }
        let current = current()
        if let current {
            candidates.removeAll { $0 == current }
            candidates.insert(current, at: 0)
        } else if !candidates.isEmpty {
            problems.append("no CURRENT pointer; serving the newest complete version")
        }
        for (i, version) in candidates.enumerated() {
            do {
                let model = try load(version)
                if i > 0 || current == nil { try? switchCurrent(to: version) }
                if i > 0 { problems.append("serving \(version) instead") }
                return (model, problems)
            } catch {
                problems.append(error.description)
            }
        }
        return (nil, problems)
    }

    /// The newest full model the publish gate did not hold back, or nil (a full refresh starts
    /// from it).
    public func newestFull() -> EmbeddingModelVersion? {
        versions().first { $0.kind == EmbeddingModelKind.full.description && $0.gate?.isHeldBack != true }
            .flatMap { EmbeddingModelVersion($0.version) }
    }

    /// The versions, newest first, each with whether it is `served` now and its `status`: served,
    /// or why not (held back by the publish gate, with how to serve it; replaced by a newer
    /// version; or newer than an earlier version rolled back to).
    public func listing(served: EmbeddingModelVersion?) -> ModelList {
        let models = versions().map { m -> ModelManifest in
            var m = m
            let version = EmbeddingModelVersion(m.version)
            let isServed = version != nil && version == served
            m.served = isServed
            if isServed, let gate = m.gate, gate.decision == ModelGateVerdict.forced {
                m.status = "served, forced past the gate: \(gate.reason)"
            } else if isServed {
                m.status = "served"
            } else if let gate = m.gate, gate.isHeldBack {
                m.status =
                    "held back: \(gate.reason); serve it with `recstream admin rollback \(m.version)` "
                    + "(or train again with `recstream train --force`)"
            } else if let version, let served, version < served {
                m.status = "replaced by a newer version (serving \(served))"
            } else if let served {
                m.status = "not served: \(served) was rolled back to"
            } else {
                m.status = "not served"
            }
            return m
        }
        return ModelList(served: served?.description, models: models)
    }

    /// The version a newly trained model is published as: a full refresh takes the next major
    /// past every version on disk; an incremental update the next minor of its parent's major
    /// past those on disk (a rollback may have left newer minors there).
    public func nextVersion(for model: EmbeddingModel) -> EmbeddingModelVersion {
        let existing = versions().compactMap { EmbeddingModelVersion($0.version) }
        let trained = model.metadata.version
        switch model.metadata.kind {
        case .full:
            let major = max(trained.major, (existing.map(\.major).max() ?? 0) + 1)
            return EmbeddingModelVersion(major: major, minor: 0)
        case .incremental:
            let minor = existing.filter { $0.major == trained.major }.map(\.minor).max().map { $0 + 1 } ?? trained.minor
            return EmbeddingModelVersion(major: trained.major, minor: max(trained.minor, minor))
        }
    }

    // MARK: Writing

    /// What ``publish(_:index:trainSeconds:evaluation:gate:excludesHeldOut:now:)`` wrote.
    public struct Publication: Sendable {
        public var manifest: ModelManifest
        /// The published version read back from its file, mapped (``load(_:)``), to serve; nil when
        /// the publish gate held it back.
        public var model: EmbeddingModel?
    }

    /// Writes `model` as a new version directory (see the type's protocol) with `index` as its
    /// stored item index (built when nil) and the publish gate's `evaluation`, `gate` verdict and
    /// `excludesHeldOut` in its manifest; unless the gate held it back, maps the written file and
    /// switches `CURRENT` to it. The encoded blob is in the heap only until it is written.
    /// - Throws: file-system and mapping errors; the previous version stays served.
    @discardableResult
    public func publish(
        _ model: EmbeddingModel, index: IVFIndex? = nil, trainSeconds: Double, evaluation: ModelEvaluation? = nil,
        gate: ModelGateVerdict? = nil, excludesHeldOut: Bool? = nil, now: Date = Date()
    ) throws -> Publication {
        let name = model.metadata.version.description
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard !FileManager.default.fileExists(atPath: path(name)) else {
            throw Failure(description: "model \(name) is already published")
        }
        let publishNumber = Self.publishes.add(1, ordering: .relaxed).newValue
        let manifest = try writeVersion(
            model, bytes: model.encode(index: index), trainSeconds: trainSeconds, evaluation: evaluation, gate: gate,
            excludesHeldOut: excludesHeldOut, now: now, publishNumber: publishNumber)
        CrashPoint.configured?.reached(.beforeModelSwitch, commit: publishNumber)
        guard gate?.isHeldBack != true else { return Publication(manifest: manifest, model: nil) }
        let served = try load(model.metadata.version)
        try switchCurrent(to: model.metadata.version)
        return Publication(manifest: manifest, model: served)
    }

    /// Writes `model` as a version in format 1, as versions before format 2 published it, and
    /// points `CURRENT` at it: for the tests that such a version still loads and for the memory
    /// benchmark's "before".
    @discardableResult
    package func publishFormat1(_ model: EmbeddingModel) throws -> ModelManifest {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifest = try writeVersion(
            model, bytes: model.encodeFormat1(), trainSeconds: 0, evaluation: nil, gate: nil, excludesHeldOut: nil,
            now: Date(), publishNumber: 0)
        try switchCurrent(to: model.metadata.version)
        return manifest
    }

    /// Steps 1 and 2 of the protocol: the temporary directory, both files fsynced, renamed into
    /// place. Returns the manifest.
    private func writeVersion(
        _ model: EmbeddingModel, bytes: [UInt8], trainSeconds: Double, evaluation: ModelEvaluation?,
        gate: ModelGateVerdict?, excludesHeldOut: Bool?, now: Date, publishNumber: Int
    ) throws -> ModelManifest {
        let name = model.metadata.version.description
        let manifest = ModelManifest(
            model: model, trainSeconds: trainSeconds, checksum: Self.checksum(bytes), bytes: bytes.count,
            publishedAtMillis: Int64(now.timeIntervalSince1970 * 1000), evaluation: evaluation, gate: gate,
            excludesHeldOut: excludesHeldOut)
        let temporary = path(".tmp-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        do {
            // Written from the array itself: no second copy of the blob in the heap.
            try bytes.withUnsafeBytes { raw in
                guard let start = raw.baseAddress else { throw Failure(description: "model \(name): empty blob") }
                let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: start), count: raw.count, deallocator: .none)
                try Self.writeDurably(data, to: temporary + "/" + Self.modelName)
            }
            CrashPoint.configured?.reached(.duringModelWrite, commit: publishNumber)
            try Self.writeDurably(try Self.encode(manifest), to: temporary + "/" + Self.manifestName)
            try Self.fsync(directory: temporary)
            try FileManager.default.moveItem(atPath: temporary, toPath: path(name))
            try Self.fsync(directory: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return manifest
    }

    /// Points `CURRENT` at `version` atomically (temp file, fsync, rename, directory fsync).
    public func switchCurrent(to version: EmbeddingModelVersion) throws {
        let temporary = path(Self.currentName + ".tmp")
        try Self.writeDurably(Data((version.description + "\n").utf8), to: temporary)
        guard rename(temporary, path(Self.currentName)) == 0 else {
            throw Failure(description: "renaming \(temporary) over CURRENT: errno \(errno)")
        }
        try Self.fsync(directory: directory)
    }

    /// Deletes all but the newest `keep` versions, never the served one nor the newest full one
    /// (the parent of the next full refresh and the root of the incrementals). Returns the removed.
    @discardableResult
    public func applyRetention(keep: Int, served: EmbeddingModelVersion?) -> [String] {
        let all = versions()
        let newestFull = newestFull()
        var removed: [String] = []
        for (i, m) in all.enumerated() where i >= keep {
            guard let v = EmbeddingModelVersion(m.version) else { continue }
            let lineageRoot = served.map { EmbeddingModelVersion(major: $0.major, minor: 0) }
            if v == served || v == newestFull || v == lineageRoot { continue }
            if (try? FileManager.default.removeItem(atPath: path(m.version))) != nil { removed.append(m.version) }
        }
        return removed
    }

    // MARK: Helpers

    /// `murmur3-x64-128:` and the 32 hex digits of the hash of `bytes`.
    static func checksum(_ bytes: [UInt8]) -> String { checksumText(MurmurHash3.hash128(bytes.span)) }

    /// `murmur3-x64-128:` and the 32 hex digits of `h` (high half first).
    static func checksumText(_ h: Hash128) -> String {
        func hex(_ x: UInt64) -> String {
            let s = String(x, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return "murmur3-x64-128:" + hex(h.high) + hex(h.low)
    }

    static func encode(_ manifest: ModelManifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(manifest)
    }

    /// Writes `data` to `file` and fsyncs it before returning.
    static func writeDurably(_ data: Data, to file: String) throws {
        guard FileManager.default.createFile(atPath: file, contents: data) else {
            throw Failure(description: "cannot write \(file)")
        }
        let fd = open(file, O_RDONLY)
        guard fd >= 0 else { throw Failure(description: "cannot open \(file) to fsync: errno \(errno)") }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw Failure(description: "fsync \(file): errno \(errno)") }
    }

    /// Makes the directory's entries (created or renamed files) durable.
    static func fsync(directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Failure(description: "cannot open \(directory) to fsync: errno \(errno)") }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw Failure(description: "fsync \(directory): errno \(errno)") }
    }
}
