package awsrds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// EventRetention is how far back DescribeEvents reaches: it "returns events
// ... for the past 14 days" (aws-facts §5, API_DescribeEvents).
const EventRetention = 14 * 24 * time.Hour

// eventClampMargin keeps a clamped StartTime this much inside the 14-day
// window, so a local clock slightly ahead of RDS's cannot put it outside.
const eventClampMargin = time.Minute

// Events implements orchestrate.EventHistory: DescribeEvents for each source
// (SourceType sourceType, SourceIdentifier source), every page, from since
// to now, in date order (stable: RDS's order within a date).
//
// The clamp: RDS keeps events for 14 days only, so a since older than
// now − 14 days (plus a one-minute margin) is moved up to it — events older
// than that no longer exist anyway. EndTime is set to now explicitly rather
// than left to RDS's defaults (without StartTime/EndTime RDS returns only
// the past hour: Duration defaults to 60 minutes, aws-facts §5). A since in
// the future returns nothing without calling RDS.
//
// sourceType must be one of DescribeEvents' SourceType values ("db-cluster",
// "db-instance", …; aws-facts §1). Sources are deduplicated. No sources at
// all (nil or empty) means every source of sourceType: one DescribeEvents
// without SourceIdentifier ("If not specified, then all sources are
// included in the response", API_DescribeEvents) — orchestrate's reconcile
// reads instance events that way, since the green instances' names before
// switchover are not known. An empty string among sources is an error.
func (c *Client) Events(ctx context.Context, sourceType string, sources []string, since time.Time) ([]orchestrate.RawEvent, error) {
	st := types.SourceType(sourceType)
	if !slices.Contains(st.Values(), st) {
		return nil, fmt.Errorf("DescribeEvents source type %q is not one of %v", sourceType, st.Values())
	}
	now := c.clock().UTC()
	start := since.UTC()
	if earliest := now.Add(-EventRetention + eventClampMargin); start.Before(earliest) {
		start = earliest
	}
	if start.After(now) {
		return nil, nil
	}
	var ids []*string // nil: every source of the type
	seen := map[string]bool{}
	for _, src := range sources {
		if src == "" {
			return nil, errors.New("DescribeEvents: empty source identifier")
		}
		if !seen[src] {
			seen[src] = true
			ids = append(ids, aws.String(src))
		}
	}
	if len(ids) == 0 {
		ids = []*string{nil}
	}
	var out []orchestrate.RawEvent
	for _, src := range ids {
		p := rds.NewDescribeEventsPaginator(c.api, &rds.DescribeEventsInput{
			SourceType:       st,
			SourceIdentifier: src,
			StartTime:        aws.Time(start),
			EndTime:          aws.Time(now),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				name := "(every source)"
				if src != nil {
					name = *src
				}
				return nil, fmt.Errorf("describe events of %s %s since %s: %w", sourceType, name, start.Format(time.RFC3339), err)
			}
			for _, e := range page.Events {
				out = append(out, orchestrate.RawEvent{
					SourceID:   aws.ToString(e.SourceIdentifier),
					SourceType: string(e.SourceType),
					Message:    aws.ToString(e.Message),
					Date:       aws.ToTime(e.Date),
				})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out, nil
}

// DeleteBlueGreenDeployment implements orchestrate.BlueGreenDeleter:
// DeleteBlueGreenDeployment with DeleteTarget false, always — after
// switchover it "cannot be set" anyway, and switchback never deletes a
// cluster (aws-facts §5). Note that deleting the deployment removes RDS's
// read-only protection from the old blue cluster: fence it through its
// parameter group first (aws-facts §5, §8). A deployment that no longer
// exists counts as deleted.
func (c *Client) DeleteBlueGreenDeployment(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("blue/green deployment identifier is empty")
	}
	_, err := c.api.DeleteBlueGreenDeployment(ctx, &rds.DeleteBlueGreenDeploymentInput{
		BlueGreenDeploymentIdentifier: aws.String(id),
		DeleteTarget:                  aws.Bool(false),
	})
	if err != nil && !isDeploymentNotFound(err) {
		return fmt.Errorf("delete blue/green deployment %s: %w", id, err)
	}
	return nil
}
