import RecstreamCore

/// Another instance of the group runs in a way this one must not run beside: two single-mode
/// instances (each would see part of the input), or single and split mode in one group.
struct GroupConflict: Error, CustomStringConvertible {
    var claim: OwnershipClaim
    var mode: RecstreamConfiguration.PipelineMode
    var group: String

    var description: String {
        let other = "instance \(claim.identity)\(claim.url.isEmpty ? "" : " at \(claim.url)") (\(claim.mode ?? "split") mode)"
        let what =
            mode == .single
            ? "pipeline.mode=single needs to be the only instance of its consumer group, and \(other) runs in group \(group)"
            : "\(other) runs in group \(group) in single mode, which owns every partition"
        return "refusing to run: \(what). Run several instances with --set pipeline.mode=split (docs/scaling.md), or give this one its own kafka.group_id. A stopped instance's claim expires \(OwnershipDirectory.freshnessMillis / 1000) s after its last renewal."
    }
}
