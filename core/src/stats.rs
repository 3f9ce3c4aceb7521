//! Engine counters. Every drop, eviction, truncation and parse error in the
//! kernel increments one of these, so that nothing is lost silently.

use crate::txn::Protocol;

/// Counters kept by the [`Engine`](crate::Engine). All are monotonically
/// increasing `u64`s (wrap-around is not a practical concern).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Frames handed to `process`.
    pub packets: u64,
    /// Bytes of those frames (captured length).
    pub bytes: u64,
    /// Frames of a link type the kernel does not decode.
    pub unknown_link_type: u64,
    /// Frames whose link or network header was malformed or truncated.
    pub malformed_frames: u64,
    /// Frames cut short by the capture's snap length (IP total length larger
    /// than what was captured).
    pub truncated_frames: u64,
    /// Frames that were neither IPv4 nor IPv6 (ARP, LLDP, ...).
    pub non_ip_frames: u64,
    /// IP packets that were neither TCP nor UDP nor ICMP.
    pub other_transport: u64,
    /// TCP/UDP packets on ports no analyzer is configured for.
    pub unmonitored_packets: u64,
    /// IP fragments received.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub defrag_reassembled: u64,
    /// Fragment sets dropped because they did not complete in time.
    pub defrag_timeouts: u64,
    /// Fragment sets evicted because the fragment pool was full.
    pub defrag_evicted: u64,
    /// Fragments dropped as invalid or too large for a pool slot.
    pub defrag_dropped: u64,
    /// Overlapping fragment bytes that disagreed with the first copy.
    pub defrag_overlap_conflicts: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows that ended normally (FIN/RST) or idled out.
    pub flows_closed: u64,
    /// Flows that idled out (subset of `flows_closed`).
    pub flows_expired: u64,
    /// Flows evicted while still active because the flow table was full.
    pub flows_evicted: u64,
    /// TCP payload bytes seen again (retransmissions, overlaps), dropped.
    pub tcp_retransmitted_bytes: u64,
    /// Overlapping TCP bytes that disagreed with the first copy kept.
    pub tcp_overlap_conflicts: u64,
    /// TCP segments buffered out of order.
    pub tcp_out_of_order: u64,
    /// Gaps in TCP streams (lost bytes), as reported to analyzers.
    pub tcp_gaps: u64,
    /// Bytes missing in those gaps.
    pub tcp_gap_bytes: u64,
    /// Stream-buffer block allocations that failed (pool exhausted).
    pub block_alloc_failures: u64,
    /// Bytes an analyzer could not buffer and had to skip.
    pub stream_bytes_skipped: u64,
    /// Application messages that failed to parse.
    pub parse_errors: u64,
    /// Application data skipped while resynchronising after a gap or error.
    pub resync_skipped_bytes: u64,
    /// Pending-transaction records evicted because the pool was full.
    pub pending_evicted: u64,
    /// Requests reported without a response (timeout, close, eviction).
    pub unmatched_requests: u64,
    /// Responses reported without a request.
    pub unmatched_responses: u64,
    /// Transactions whose text fields were cut to fit their fixed capacity.
    pub txn_truncated: u64,
    /// Responses cut short by the connection closing (or the capture
    /// ending) before the length they announced: reported, noted
    /// "Connection closed before the response was complete".
    pub responses_incomplete: u64,
    /// Transactions handed to the sink, per protocol (index: [`Protocol`] as usize).
    pub transactions: [u64; Protocol::COUNT],
}

impl Stats {
    /// Transactions emitted for one protocol.
    pub fn transactions_for(&self, p: Protocol) -> u64 {
        self.transactions.get(p as usize).copied().unwrap_or(0)
    }

    /// Transactions emitted over all protocols.
    pub fn transactions_total(&self) -> u64 {
        self.transactions.iter().sum()
    }

    /// Adds `other`'s counters to these (several engines, one report).
    pub fn add(&mut self, other: &Stats) {
        // Destructured so that a new counter cannot be forgotten here.
        let Stats {
            packets,
            bytes,
            unknown_link_type,
            malformed_frames,
            truncated_frames,
            non_ip_frames,
            other_transport,
            unmonitored_packets,
            fragments,
            defrag_reassembled,
            defrag_timeouts,
            defrag_evicted,
            defrag_dropped,
            defrag_overlap_conflicts,
            flows_created,
            flows_closed,
            flows_expired,
            flows_evicted,
            tcp_retransmitted_bytes,
            tcp_overlap_conflicts,
            tcp_out_of_order,
            tcp_gaps,
            tcp_gap_bytes,
            block_alloc_failures,
            stream_bytes_skipped,
            parse_errors,
            resync_skipped_bytes,
            pending_evicted,
            unmatched_requests,
            unmatched_responses,
            txn_truncated,
            responses_incomplete,
            transactions,
        } = *other;
        self.packets += packets;
        self.bytes += bytes;
        self.unknown_link_type += unknown_link_type;
        self.malformed_frames += malformed_frames;
        self.truncated_frames += truncated_frames;
        self.non_ip_frames += non_ip_frames;
        self.other_transport += other_transport;
        self.unmonitored_packets += unmonitored_packets;
        self.fragments += fragments;
        self.defrag_reassembled += defrag_reassembled;
        self.defrag_timeouts += defrag_timeouts;
        self.defrag_evicted += defrag_evicted;
        self.defrag_dropped += defrag_dropped;
        self.defrag_overlap_conflicts += defrag_overlap_conflicts;
        self.flows_created += flows_created;
        self.flows_closed += flows_closed;
        self.flows_expired += flows_expired;
        self.flows_evicted += flows_evicted;
        self.tcp_retransmitted_bytes += tcp_retransmitted_bytes;
        self.tcp_overlap_conflicts += tcp_overlap_conflicts;
        self.tcp_out_of_order += tcp_out_of_order;
        self.tcp_gaps += tcp_gaps;
        self.tcp_gap_bytes += tcp_gap_bytes;
        self.block_alloc_failures += block_alloc_failures;
        self.stream_bytes_skipped += stream_bytes_skipped;
        self.parse_errors += parse_errors;
        self.resync_skipped_bytes += resync_skipped_bytes;
        self.pending_evicted += pending_evicted;
        self.unmatched_requests += unmatched_requests;
        self.unmatched_responses += unmatched_responses;
        self.txn_truncated += txn_truncated;
        self.responses_incomplete += responses_incomplete;
        for (a, b) in self.transactions.iter_mut().zip(transactions) {
            *a += b;
        }
    }

    /// Calls `f(name, value)` for each counter, in a fixed order, so shells
    /// can print or export them without knowing the field list.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
        f("packets", self.packets);
        f("bytes", self.bytes);
        f("unknown_link_type", self.unknown_link_type);
        f("malformed_frames", self.malformed_frames);
        f("truncated_frames", self.truncated_frames);
        f("non_ip_frames", self.non_ip_frames);
        f("other_transport", self.other_transport);
        f("unmonitored_packets", self.unmonitored_packets);
        f("fragments", self.fragments);
        f("defrag_reassembled", self.defrag_reassembled);
        f("defrag_timeouts", self.defrag_timeouts);
        f("defrag_evicted", self.defrag_evicted);
        f("defrag_dropped", self.defrag_dropped);
        f("defrag_overlap_conflicts", self.defrag_overlap_conflicts);
        f("flows_created", self.flows_created);
        f("flows_closed", self.flows_closed);
        f("flows_expired", self.flows_expired);
        f("flows_evicted", self.flows_evicted);
        f("tcp_retransmitted_bytes", self.tcp_retransmitted_bytes);
        f("tcp_overlap_conflicts", self.tcp_overlap_conflicts);
        f("tcp_out_of_order", self.tcp_out_of_order);
        f("tcp_gaps", self.tcp_gaps);
        f("tcp_gap_bytes", self.tcp_gap_bytes);
        f("block_alloc_failures", self.block_alloc_failures);
        f("stream_bytes_skipped", self.stream_bytes_skipped);
        f("parse_errors", self.parse_errors);
        f("resync_skipped_bytes", self.resync_skipped_bytes);
        f("pending_evicted", self.pending_evicted);
        f("unmatched_requests", self.unmatched_requests);
        f("unmatched_responses", self.unmatched_responses);
        f("txn_truncated", self.txn_truncated);
        f("responses_incomplete", self.responses_incomplete);
        for p in Protocol::ALL {
            f(p.transactions_counter_name(), self.transactions_for(p));
        }
    }
}
