package consumer

// The group loop: Run's goroutine takes every generation kafka-go hands out
// and starts it, and after a failed join removes the member id it had from
// the group in the background, so that the new member need not wait out
// the old one's session.
//
// Goroutine contract: generations runs on Run's goroutine. At most one
// leaver runs at a time: generations stops it, and waits for it, when the
// next generation starts and when it returns.

import (
	"context"
	"errors"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/retry"
)

// generations runs every generation cg hands out until ctx ends.
func (c *Consumer) generations(ctx context.Context, cg *kafka.ConsumerGroup) {
	lastMember := "" // this process's member id in the last generation
	stopLeaving := func() {}
	defer func() { stopLeaving() }()
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			// A rebalance in progress is routine; after anything else
			// kafka-go has tried to leave the group, forgotten its member
			// id, and joins again as a new member after JoinGroupBackoff.
			e := GroupError{Group: c.cfg.GroupID, Err: err, Rebalancing: errors.Is(err, kafka.RebalanceInProgress)}
			if !e.Rebalancing {
				c.ready.Store(false)
				e.RetryIn = c.cfg.JoinGroupBackoff
				if lastMember != "" {
					stopLeaving = c.leaveInBackground(ctx, lastMember)
					lastMember = ""
				}
			}
			c.obs.GroupError(e)
			continue
		}
		stopLeaving()
		stopLeaving, lastMember = func() {}, gen.MemberID
		gen.Start(func(genCtx context.Context) { c.runGeneration(ctx, genCtx, gen) })
	}
}

// leaveInBackground removes member, this process's member id of an ended
// generation, from the group as soon as the coordinator answers, and returns
// a function that stops trying and waits.
//
// kafka-go leaves the group after a failed join, but while the brokers are
// out of reach that leave fails too, and the new member it joins as must
// then wait for the coordinator to give up on the old one: up to the session
// or rebalance timeout (30s by default) without consuming, after a broker
// restart or a long pause.
func (c *Consumer) leaveInBackground(ctx context.Context, member string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bo := fetchRetry.New()
		for {
			err := c.leave(ctx, member)
			if err == nil || errors.Is(err, kafka.UnknownMemberId) {
				if err == nil {
					c.obs.StaleMemberLeft(StaleMemberLeft{Group: c.cfg.GroupID, MemberID: member})
				}
				return
			}
			// Pooled connections to a broker that restarted fail only
			// after the timeout; start the next attempt afresh.
			c.transport.CloseIdleConnections()
			if retry.Sleep(ctx, bo.NextBackOff()) != nil {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (c *Consumer) leave(ctx context.Context, member string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	res, err := c.client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: c.cfg.GroupID,
		Members: []kafka.LeaveGroupRequestMember{{ID: member}}})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	for _, m := range res.Members {
		if m.Error != nil {
			return m.Error
		}
	}
	return nil
}
