import CRocksDB

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure of the state store, classified so callers can decide what to do without parsing
/// text: retry (``Kind/busy``), stop and page someone (``Kind/noSpace``, ``Kind/readOnly``,
/// ``Kind/corruption``, ``Kind/lockHeld``), or treat as a bug (``Kind/invalidArgument``).
///
/// `message` keeps RocksDB's own text (status prefix included) so nothing is lost in the
/// translation; `kind` is derived from it by ``StorageError/init(rocksDBMessage:context:)``.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, coarsely. The raw value is stable and suitable as a metric label.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An I/O error not covered by a more specific kind ("IO error:").
        case io
        /// The file system is full ("No space left on device", "Space limit reached").
        case noSpace
        /// The store cannot write where it must: a read-only file system, or no permission to
        /// create or write files in the state directory ("Read-only file system", "Permission denied").
        case readOnly
        /// Stored data failed a checksum or could not be parsed ("Corruption:"), or a key did not
        /// have the layout its reader expected (``KeyReader``).
        case corruption
        /// A file the store needs is missing ("NotFound:"), e.g. `createIfMissing` is false and
        /// there is no store at the path.
        case notFound
        /// The caller asked for something impossible: bad options, a path that is not a directory,
        /// a closed store ("Invalid argument:", "Not implemented:").
        case invalidArgument
        /// A transient condition; retrying later may succeed ("Resource busy:", "Try again",
        /// "Operation timed out", "Operation aborted").
        case busy
        /// Another process, or another ``StateStore`` in this process, holds the RocksDB `LOCK`
        /// file of the directory.
        case lockHeld
        /// Anything else RocksDB reported.
        case other
    }

    public var kind: Kind
    public var message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "StorageError.\(kind.rawValue): \(message)" }
}

extension StorageError {
    /// Classifies a RocksDB status string (`Status::ToString()`, as the C API returns it through
    /// `char **errptr`) and prefixes it with what the store was doing.
    ///
    /// The order of the checks matters: the specific conditions (no space, read-only, lock) are
    /// reported inside "IO error:" statuses, so they are looked for before the generic prefixes.
    public init(rocksDBMessage raw: String, context: String) {
        let kind = Self.classify(rocksDBMessage: raw)
        switch kind {
        case .lockHeld:
            self.init(
                kind: .lockHeld,
                message: "\(context): the state directory is in use by another recstream process "
                    + "(or another StateStore in this process), which holds its LOCK file; stop that process "
                    + "or use a different state directory (RocksDB: \(raw))")
        default:
            self.init(kind: kind, message: "\(context): \(raw)")
        }
    }

    /// The kind of a RocksDB status string; see ``Kind`` for the text each kind matches.
    public static func classify(rocksDBMessage raw: String) -> Kind {
        if raw.contains("No space left on device") || raw.contains("Space limit reached") {
            return .noSpace
        }
        if raw.contains("Read-only file system") || raw.contains("Permission denied")
            || raw.contains("Operation not permitted")
        {
            return .readOnly
        }
        // RocksDB 7.x: "IO error: While lock file: <dir>/LOCK: Resource temporarily unavailable"
        // when another process holds the fcntl lock, and "IO error: lock hold by current process,
        // acquire time ... : <dir>/LOCK: No locks available" for a second open in this process.
        if raw.contains("While lock file") || raw.contains("lock hold by current process") {
            return .lockHeld
        }
        if raw.hasPrefix("Corruption:") { return .corruption }
        if raw.hasPrefix("NotFound:") || raw.hasPrefix("Not found:") { return .notFound }
        if raw.hasPrefix("Invalid argument:") || raw.hasPrefix("Not implemented:") { return .invalidArgument }
        if raw.hasPrefix("Resource busy:") || raw.hasPrefix("Busy:") || raw.hasPrefix("Operation failed. Try again.")
            || raw.hasPrefix("Operation timed out") || raw.hasPrefix("Operation aborted")
        {
            return .busy
        }
        if raw.hasPrefix("IO error:") { return .io }
        return .other
    }

    /// An error for a failed system call made by the store itself (creating the directory).
    init(errno code: Int32, context: String) {
        let text = String(cString: strerror(code))
        let kind: Kind =
            switch code {
            case ENOSPC, EDQUOT: .noSpace
            case EROFS, EACCES, EPERM: .readOnly
            case ENOTDIR, ENAMETOOLONG, EINVAL, ELOOP: .invalidArgument
            case ENOENT: .notFound
            default: .io
            }
        self.init(kind: kind, message: "\(context): \(text)")
    }
}

/// The one choke point between RocksDB's `char **errptr` convention and Swift errors.
///
/// Runs `body` with a fresh error slot; if RocksDB stored an error string there, it is copied,
/// freed, classified and thrown. `context` is only evaluated on failure.
///
/// - Important: RocksDB allocates the error string (`strdup`) and the caller owns it: it is freed
///   here with `rocksdb_free`, exactly once, on every path.
@inline(__always)
func rocksCall<R>(
    _ context: @autoclosure () -> String,
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R
) throws(StorageError) -> R {
    var error: UnsafeMutablePointer<CChar>? = nil
    let result = body(&error)
    if let error {
        let raw = String(cString: error)
        // Ownership: the error string was malloc'ed by RocksDB for us; free it before throwing.
        rocksdb_free(error)
        throw StorageError(rocksDBMessage: raw, context: context())
    }
    return result
}
