// Package consumer consumes receiptd's source topic at least once.
//
// A [Consumer] is a member of a kafka-go consumer group. For every generation
// it fetches each owned partition with its own partition reader, started at
// the committed offset; decodes and validates each record ([DecodeEvent]);
// hands valid ones to the [Stages] (the worker) and rejects invalid ones
// (straight to the dead-letter stage). A per-partition tracker follows every
// fetched record until the worker or the dead-letter stage reports it done
// through [Completer], and
// the consumer commits, per partition, the offset of the lowest record not
// yet done: every Config.CommitInterval and when the generation ends, after a
// bounded drain and before the member rejoins. Records never done are never
// committed, so a crash or a rebalance redelivers them (duplicates, never
// loss). Records done above the committed offset are listed in the commit's
// metadata, and done work whose commit failed at the end of a generation is
// kept by the member: whoever consumes the partition next marks them done
// when it fetches them again instead of handing them over, so a crash, a
// rebalance or a broker outage redoes only the work done since the last
// commit.
//
// Commits per partition never move backwards, with one exception that is
// always reported ([Observer].OffsetReset): a committed offset beyond the end
// of the log (the topic was recreated or lost data) is reset per
// Config.StartOffset, and the reset position is committed.
//
// The dead-letter package writes the letters of rejected records; it finds
// each one's source record with [SourceMessage].
package consumer
