import RecstreamCore

#if canImport(Glibc)
    import Glibc
#endif

/// A published model file mapped read-only into memory: the kernel pages it in as reads touch it
/// and may drop clean pages under memory pressure (they are read again from the file), so the
/// served model costs page cache rather than heap.
///
/// `mmap(PROT_READ, MAP_SHARED)` of the whole file; the descriptor is closed once mapped (the
/// mapping keeps the file open); `deinit` unmaps. ``bytes`` hands the core a ``ModelBytes`` that
/// keeps this mapping alive for as long as any model or index reads from it.
///
/// - Important: The file must not be written or truncated while mapped (a published version's
///   model.bin never is: a publish writes a new directory, retention deletes whole directories,
///   which leaves the mapping valid until it is dropped).
final class ModelFileMapping: Sendable {
    /// The mapping's address, as an integer so the type is `Sendable` without unchecked state.
    private let address: UInt
    let count: Int

    /// Maps `path` read-only.
    /// - Throws: ``ModelStore/Failure`` when it cannot be opened, is empty, or `mmap` fails.
    init(path: String) throws(ModelStore.Failure) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelStore.Failure(description: "cannot open \(path): errno \(errno)") }
        // The mapping holds its own reference to the file: the descriptor is not needed afterwards.
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ModelStore.Failure(description: "fstat \(path): errno \(errno)") }
        let size = Int(status.st_size)
        guard size > 0 else { throw ModelStore.Failure(description: "\(path) is empty") }
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw ModelStore.Failure(description: "mmap \(path) (\(size) bytes): errno \(errno)")
        }
        address = UInt(bitPattern: base)
        count = size
    }

    deinit {
        // munmap only fails for an address range that is not a mapping, which this one is.
        _ = munmap(UnsafeMutableRawPointer(bitPattern: address), count)
    }

    /// The mapped bytes; every copy keeps this mapping alive.
    var bytes: ModelBytes {
        guard let start = UnsafeRawPointer(bitPattern: address) else { preconditionFailure("a mapping at address 0") }
        return ModelBytes(unsafeStart: start, count: count, owner: self)
    }
}

extension ModelStore {
    /// The file's size and its MurmurHash3 x64-128 in the manifest's form, read through a 1 MiB
    /// buffer (never the whole file in memory, and not through a mapping, so the check does not
    /// leave the file's pages resident in the process).
    /// - Throws: ``Failure`` when the file cannot be read.
    static func checksum(file path: String) throws(Failure) -> (bytes: Int, checksum: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        var stream = MurmurHash3.Stream()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Failure(description: "read \(path): errno \(errno)") }
            if n == 0 { break }
            stream.update(buffer.span.extracting(0..<n))
        }
        return (stream.count, Self.checksumText(stream.finish()))
    }
}
