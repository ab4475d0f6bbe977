import Foundation
import RecstreamCore

/// Fuzz target for the event decoders. Each input's first byte picks the format (even: JSON,
/// odd: protobuf); the rest is the record value. The decoder must never crash, hang or leak; on
/// acceptance the decoded event must survive a round trip through the encoders.
///
/// Built for libFuzzer (see docs/reliability.md):
///   swift build -c release --scratch-path .build-fuzz --product recstream-fuzz \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DRECSTREAM_FUZZING
///   .build-fuzz/release/recstream-fuzz Fuzz/corpus -max_total_time=600
/// Built normally it replays every file of the given directories (the committed corpus) once,
/// which is how the test suite keeps the corpus passing.
enum FuzzDecoders {
    nonisolated(unsafe) static var decoder = EventDecoder()

    static func check(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let format: PayloadFormat = selector % 2 == 0 ? .json : .protobuf
        let value = Array(input.dropFirst())
        guard case .success(let decoded) = decoder.decode(value.span, format: format) else { return }
        let event = decoder.materialize(decoded)
        let json = event.jsonBytes()
        guard case .success(let again) = decoder.decode(json.span, format: .json), decoder.materialize(again) == event else {
            fatalError("JSON round trip failed for \(event)")
        }
        let proto = event.protobufBytes()
        guard case .success(let third) = decoder.decode(proto.span, format: .protobuf), decoder.materialize(third) == event else {
            fatalError("protobuf round trip failed for \(event)")
        }
    }
}

#if RECSTREAM_FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzDecoders.check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

typealias FuzzerCallback = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzerCallback
) -> CInt

/// SwiftPM links an executable's entry point under this name; hand control to libFuzzer.
@_cdecl("recstream_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzerTestOneInput)
}
#else
@main
struct CorpusReplay {
    static func main() {
        let directories = CommandLine.arguments.dropFirst()
        var count = 0
        for directory in directories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? [] {
                guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name)) else { continue }
                FuzzDecoders.check(Array(data))
                count += 1
            }
        }
        print("replayed \(count) inputs")
    }
}
#endif
