package deadletter

// Reading the dead-letter topic from its start to its end as of the scan,
// for Inspect and Replay, and checking that a topic exists.
//
// Lock and goroutine contract: each call runs on its caller's goroutine
// with connections of its own, closed before it returns; nothing is shared
// between calls.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Scan reads the dead-letter topic cfg.Topic from its first record to its
// end as of the start of the scan, and calls fn for each record, partition
// by partition in offset order. A record written during the scan is not
// read. It stops at fn's first error and returns it.
func Scan(ctx context.Context, cfg Config, fn func(kafka.Message) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	transport := cfg.transport()
	defer transport.CloseIdleConnections()
	client := cfg.client(transport)
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic}})
	if err != nil {
		return fmt.Errorf("read metadata of %s: %w", cfg.Topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		if len(md.Topics) == 1 {
			err = md.Topics[0].Error
		}
		return fmt.Errorf("dead-letter topic %s: %w", cfg.Topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.Topic: reqs}})
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", cfg.Topic, err)
	}
	parts := offs.Topics[cfg.Topic]
	slices.SortFunc(parts, func(a, b kafka.PartitionOffsets) int { return a.Partition - b.Partition })
	for _, po := range parts {
		if po.Error != nil {
			return fmt.Errorf("offsets of %s partition %d: %w", cfg.Topic, po.Partition, po.Error)
		}
		if po.FirstOffset >= po.LastOffset {
			continue
		}
		if err := scanPartition(ctx, cfg, po.Partition, po.FirstOffset, po.LastOffset, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanPartition(ctx context.Context, cfg Config, partition int, first, end int64, fn func(kafka.Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: cfg.Topic, Partition: partition, Dialer: cfg.Dialer,
		MaxWait: 500 * time.Millisecond, ReadLagInterval: -1, MaxBytes: 10 << 20,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s partition %d: %w", cfg.Topic, partition, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}

// CheckTopic reports whether topic exists on cfg's brokers.
func CheckTopic(ctx context.Context, cfg Config, topic string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	transport := cfg.transport()
	defer transport.CloseIdleConnections()
	md, err := cfg.client(transport).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("read metadata of topic %q: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Error != nil {
			return fmt.Errorf("topic %q: %w", topic, t.Error)
		}
		if t.Name == topic {
			return nil
		}
	}
	return fmt.Errorf("topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}
