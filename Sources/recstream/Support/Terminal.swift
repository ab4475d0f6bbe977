import Foundation
import RecstreamBench

/// Writing to the terminal: lines to stdout for results, stderr for progress and errors.
enum Terminal {
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Prints a JSON value (an API answer) as one line with sorted keys: every `--json` output.
    static func json(_ object: Any) throws {
        out(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }

    static func err(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Overwrites the current stderr line (progress bars); a no-op when stderr is not a terminal
    /// except every `fallbackEvery` calls, so logs of long runs still show progress.
    static func status(_ line: String) {
        if isatty(STDERR_FILENO) != 0 {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        } else {
            err(line)
        }
    }

    static func endStatus() {
        if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// A progress bar: `[#####.....]  52%  1,040,000/2,000,000  512,3k/s`.
    static func bar(done: Int, total: Int?, rate: Double, width: Int = 30) -> String {
        let count = grouped(done)
        let rateText = "\(grouped(Int(rate)))/s"
        guard let total, total > 0 else { return "\(count)  \(rateText)" }
        let fraction = min(1, Double(done) / Double(total))
        let filled = Int(fraction * Double(width))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + String(format: "%3d%%  ", Int(fraction * 100)) + "\(count)/\(grouped(total))  \(rateText)"
    }

    static func grouped(_ n: Int) -> String { ReportFormat.grouped(n) }

    /// Renders rows as an aligned text table; numeric-looking cells are right-aligned.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func isNumeric(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy { $0.isNumber || $0 == "." || $0 == "," || $0 == "-" } }
        func render(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return isNumeric(cell) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        return ([render(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(render))
            .joined(separator: "\n")
    }
}
