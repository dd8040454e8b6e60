//go:build integration

package dynamostate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/switchback/switchback/shared/dynalitetest"
	"github.com/switchback/switchback/shared/orchestrate"
)

const testTable = "switchback-state-test"

// newStore starts dynalite, creates the table and returns a store on it.
func newStore(t *testing.T, opts ...Option) (*Store, *dynalitetest.Server) {
	t.Helper()
	srv := dynalitetest.Start(t)
	if err := CreateTable(t.Context(), srv.Client, testTable); err != nil {
		t.Fatal(err)
	}
	return New(srv.Client, testTable, opts...), srv
}

// countingClient is srv's client with a counter of the calls per operation.
func countingClient(srv *dynalitetest.Server) (*dynamodb.Client, func(op string) int64) {
	var mu sync.Mutex
	calls := map[string]int64{}
	opts := srv.Client.Options()
	opts.APIOptions = append(opts.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				mu.Lock()
				calls[awsmiddleware.GetOperationName(ctx)]++
				mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
	return dynamodb.New(opts), func(op string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return calls[op]
	}
}

func mustCreate(t *testing.T, s *Store, rec orchestrate.Record) orchestrate.Record {
	t.Helper()
	got, err := s.Create(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustGet(t *testing.T, s *Store, id string) orchestrate.Record {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestStoreCreateGet(t *testing.T) {
	s, _ := newStore(t)
	rec := fullRecord()
	created := mustCreate(t, s, rec)
	if created.Version != 1 || created.Lease != nil {
		t.Errorf("Create returned version %d, lease %+v; want version 1 and no lease", created.Version, created.Lease)
	}
	want := rec
	want.Version, want.Lease = 1, nil
	if got := mustGet(t, s, rec.Deployment); !reflect.DeepEqual(got, want) {
		t.Errorf("Get after Create:\n got %+v\nwant %+v", got, want)
	}

	again := rec
	again.Phase = orchestrate.PhaseCapturing
	_, err := s.Create(t.Context(), again)
	if !errors.Is(err, orchestrate.ErrExists) {
		t.Fatalf("second Create: %v; want ErrExists", err)
	}
	if !strings.Contains(err.Error(), testTable) || !strings.Contains(err.Error(), rec.Deployment) {
		t.Errorf("error %q does not name the table and the deployment", err)
	}
	if got := mustGet(t, s, rec.Deployment); !reflect.DeepEqual(got, want) {
		t.Errorf("second Create changed the record:\n got %+v\nwant %+v", got, want)
	}
}

func TestStoreGetMissing(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Get(t.Context(), "bgd-missing")
	if !errors.Is(err, orchestrate.ErrNotFound) {
		t.Fatalf("Get of a missing record: %v; want ErrNotFound", err)
	}
	for _, want := range []string{testTable, "bgd-missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestStoreUpdateStaleVersion(t *testing.T) {
	s, _ := newStore(t)
	v1 := mustCreate(t, s, fullRecord())

	// An update from version 1: every field but the key and the lease is
	// set, empty optional fields are removed.
	next := v1
	next.Phase = orchestrate.PhaseConfigured
	next.PhaseDetail = ""
	next.Coords = nil
	rb := *v1.Rollback
	rb.Writer = "shop-prod-old1-reader-1"
	next.Rollback = &rb
	next.UpdatedAt = v1.UpdatedAt.Add(time.Second)
	v2, err := s.Update(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	want := next
	want.Version = 2
	if !reflect.DeepEqual(v2, want) {
		t.Errorf("Update returned:\n got %+v\nwant %+v", v2, want)
	}
	if got := mustGet(t, s, v1.Deployment); !reflect.DeepEqual(got, want) {
		t.Errorf("stored after Update:\n got %+v\nwant %+v", got, want)
	}

	// A writer that read version 1 is refused and changes nothing.
	stale := v1
	stale.Phase = orchestrate.PhaseNeedsAttention
	stale.PhaseDetail = "from a stale read"
	_, err = s.Update(t.Context(), stale)
	if !errors.Is(err, orchestrate.ErrStaleVersion) {
		t.Fatalf("stale Update: %v; want ErrStaleVersion", err)
	}
	if !strings.Contains(err.Error(), "expected version 1, stored 2") {
		t.Errorf("stale error %q does not give both versions", err)
	}
	if got := mustGet(t, s, v1.Deployment); !reflect.DeepEqual(got, want) {
		t.Errorf("stale Update changed the record:\n got %+v\nwant %+v", got, want)
	}

	// Update leaves the lease as stored.
	lease, err := s.AcquireLease(t.Context(), v1.Deployment, "configure/req-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	next = v2
	next.Lease = nil
	next.PhaseDetail = "lease kept"
	v3, err := s.Update(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	if v3.Version != 3 || v3.Lease == nil || v3.Lease.Holder != lease.Holder || !v3.Lease.Expires.Equal(lease.Expires) {
		t.Errorf("Update returned version %d, lease %+v; want 3 and %+v", v3.Version, v3.Lease, lease)
	}

	_, err = s.Update(t.Context(), orchestrate.Record{Deployment: "bgd-missing", Version: 1, Phase: orchestrate.PhaseCapturing})
	if !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("Update of a missing record: %v; want ErrNotFound", err)
	}
	if _, err := s.Get(t.Context(), "bgd-missing"); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("Update of a missing record created it: %v", err)
	}
}

func TestStoreDelete(t *testing.T) {
	s, _ := newStore(t)
	rec := mustCreate(t, s, fullRecord())
	if err := s.AppendHistory(t.Context(), orchestrate.HistoryEntry{Deployment: rec.Deployment, Actor: "test", Step: "capture", Outcome: "recorded"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), rec.Deployment, 2); !errors.Is(err, orchestrate.ErrStaleVersion) {
		t.Fatalf("Delete with a stale version: %v; want ErrStaleVersion", err)
	}
	mustGet(t, s, rec.Deployment)
	if err := s.Delete(t.Context(), rec.Deployment, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), rec.Deployment); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("Get after Delete: %v; want ErrNotFound", err)
	}
	if err := s.Delete(t.Context(), rec.Deployment, 1); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("second Delete: %v; want ErrNotFound", err)
	}
	if h, err := s.History(t.Context(), rec.Deployment); err != nil || len(h) != 1 {
		t.Errorf("history after Delete = %d entries, %v; want the 1 entry kept", len(h), err)
	}
}

func TestStoreListAcrossPages(t *testing.T) {
	srv := dynalitetest.Start(t)
	if err := CreateTable(t.Context(), srv.Client, testTable); err != nil {
		t.Fatal(err)
	}
	client, calls := countingClient(srv)
	s := New(client, testTable, WithPageSize(4))
	const n = 23
	for i := range n {
		id := fmt.Sprintf("bgd-%03d", n-i) // created out of order
		mustCreate(t, s, orchestrate.Record{Deployment: id, Phase: orchestrate.PhaseCapturing})
		if err := s.AppendHistory(t.Context(), orchestrate.HistoryEntry{Deployment: id, Step: "capture", Outcome: "recorded"}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n {
		t.Fatalf("List returned %d records; want %d", len(recs), n)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("bgd-%03d", i+1); r.Deployment != want || r.Version != 1 {
			t.Errorf("record %d = %s version %d; want %s version 1", i, r.Deployment, r.Version, want)
		}
	}
	// 46 items, 4 per page: at least 12 pages.
	if got := calls("Scan"); got < 12 {
		t.Errorf("List made %d Scan calls; want every page read (≥ 12)", got)
	}

	empty := New(srv.Client, testTable+"-other")
	if err := CreateTable(t.Context(), srv.Client, empty.Table()); err != nil {
		t.Fatal(err)
	}
	if recs, err := empty.List(t.Context()); err != nil || len(recs) != 0 {
		t.Errorf("List of an empty table = %v, %v", recs, err)
	}
}

func TestLeaseConcurrentAcquirers(t *testing.T) {
	s, _ := newStore(t)
	rec := mustCreate(t, s, fullRecord())
	const n = 10
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		won     atomic.Int32
		leases  = make([]orchestrate.Lease, n)
		errs    = make([]error, n)
		holders = make([]string, n)
	)
	for i := range n {
		holders[i] = fmt.Sprintf("configure/req-%d", i)
		wg.Go(func() {
			<-start
			leases[i], errs[i] = s.AcquireLease(t.Context(), rec.Deployment, holders[i], time.Minute)
			if errs[i] == nil {
				won.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d acquirers got the lease; want exactly 1 (errors: %v)", won.Load(), errs)
	}
	var winner orchestrate.Lease
	for i := range n {
		if errs[i] == nil {
			winner = leases[i]
		}
	}
	for i := range n {
		if errs[i] == nil {
			continue
		}
		var held *LeaseHeldError
		if !errors.Is(errs[i], orchestrate.ErrLeaseHeld) || !errors.As(errs[i], &held) {
			t.Errorf("acquirer %d: %v; want ErrLeaseHeld", i, errs[i])
			continue
		}
		if held.Holder != winner.Holder || !held.Expires.Equal(winner.Expires) {
			t.Errorf("acquirer %d was told %s holds it until %s; the winner is %s until %s", i, held.Holder, held.Expires, winner.Holder, winner.Expires)
		}
	}
	got := mustGet(t, s, rec.Deployment)
	if got.Lease == nil || got.Lease.Holder != winner.Holder || !got.Lease.Expires.Equal(winner.Expires) {
		t.Errorf("stored lease %+v; want %+v", got.Lease, winner)
	}
	if got.Version != rec.Version {
		t.Errorf("acquiring the lease changed the version %d → %d", rec.Version, got.Version)
	}
}

func TestLeaseExpiredIsTakenOver(t *testing.T) {
	s, _ := newStore(t)
	rec := mustCreate(t, s, fullRecord())
	const ttl = 300 * time.Millisecond
	first, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/a", ttl)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	deadline := time.Now().Add(10 * time.Second)
	for {
		tried := time.Now()
		second, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/b", time.Minute)
		if err == nil {
			if tried.Before(first.Expires) {
				t.Fatalf("b got the lease at %s, before a's expiry %s", tried, first.Expires)
			}
			if second.Holder != "configure/b" {
				t.Errorf("lease = %+v", second)
			}
			break
		}
		if !errors.Is(err, orchestrate.ErrLeaseHeld) {
			t.Fatal(err)
		}
		if !strings.Contains(err.Error(), "configure/a") {
			t.Errorf("refusal %q does not name the holder", err)
		}
		refused++
		if time.Now().After(deadline) {
			t.Fatalf("b never took over a's lease (expired %s ago): %v", time.Since(first.Expires), err)
		}
		select { // poll until the lease has expired, bounded by the deadline
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
	if refused == 0 {
		t.Error("b was never refused while a's lease ran")
	}
	// a lost it: releasing is a no-op, re-acquiring is refused naming b.
	if err := s.ReleaseLease(t.Context(), rec.Deployment, "configure/a"); err != nil {
		t.Fatal(err)
	}
	var held *LeaseHeldError
	if _, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/a", ttl); !errors.As(err, &held) || held.Holder != "configure/b" {
		t.Errorf("a re-acquiring after the takeover: %v; want held by configure/b", err)
	}
}

func TestLeaseHolderReacquireExtends(t *testing.T) {
	s, _ := newStore(t)
	rec := mustCreate(t, s, fullRecord())
	l1, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/a", 2*time.Minute)
	if err != nil {
		t.Fatalf("the holder re-acquiring: %v", err)
	}
	if !l2.Expires.After(l1.Expires) {
		t.Errorf("re-acquire did not extend: %s then %s", l1.Expires, l2.Expires)
	}
	got := mustGet(t, s, rec.Deployment)
	if got.Lease == nil || !got.Lease.Expires.Equal(l2.Expires) {
		t.Errorf("stored lease %+v; want %+v", got.Lease, l2)
	}
	if got.Version != rec.Version {
		t.Errorf("version %d → %d", rec.Version, got.Version)
	}
}

func TestLeaseReleaseByNonHolderIsNoop(t *testing.T) {
	s, _ := newStore(t)
	rec := mustCreate(t, s, fullRecord())
	la, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(t.Context(), rec.Deployment, "configure/b"); err != nil {
		t.Fatalf("release by a non-holder: %v; want a no-op", err)
	}
	if got := mustGet(t, s, rec.Deployment); got.Lease == nil || got.Lease.Holder != "configure/a" || !got.Lease.Expires.Equal(la.Expires) {
		t.Fatalf("after b's release the lease is %+v; want a's %+v", got.Lease, la)
	}
	if _, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/b", time.Minute); !errors.Is(err, orchestrate.ErrLeaseHeld) {
		t.Fatalf("b acquiring a's lease: %v; want ErrLeaseHeld", err)
	}
	if err := s.ReleaseLease(t.Context(), rec.Deployment, "configure/a"); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, rec.Deployment); got.Lease != nil {
		t.Fatalf("after a's release the lease is %+v; want none", got.Lease)
	}
	if err := s.ReleaseLease(t.Context(), rec.Deployment, "configure/a"); err != nil {
		t.Errorf("releasing a free lease: %v; want a no-op", err)
	}
	if _, err := s.AcquireLease(t.Context(), rec.Deployment, "configure/b", time.Minute); err != nil {
		t.Errorf("b acquiring the freed lease: %v", err)
	}

	// No record: releasing is a no-op and creates nothing; acquiring is
	// ErrNotFound.
	if err := s.ReleaseLease(t.Context(), "bgd-missing", "configure/a"); err != nil {
		t.Errorf("releasing on a missing record: %v", err)
	}
	if _, err := s.Get(t.Context(), "bgd-missing"); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("ReleaseLease created a record: %v", err)
	}
	if _, err := s.AcquireLease(t.Context(), "bgd-missing", "configure/a", time.Minute); !errors.Is(err, orchestrate.ErrNotFound) {
		t.Errorf("AcquireLease on a missing record: %v; want ErrNotFound", err)
	}
}

func TestHistoryAppendOnly(t *testing.T) {
	s, _ := newStore(t)
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	first := orchestrate.HistoryEntry{Deployment: "bgd-h", Time: at, Actor: "capture/req-1", Step: "capture", Outcome: "recorded", Detail: "first"}
	sk := historySK(at, "fixedsuffix00000")
	if err := s.putHistory(t.Context(), first, sk); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Detail = "overwrite attempt"
	err := s.putHistory(t.Context(), second, sk)
	if !errors.Is(err, orchestrate.ErrExists) {
		t.Fatalf("second write of %s: %v; want ErrExists", sk, err)
	}
	h, err := s.History(t.Context(), "bgd-h")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || !reflect.DeepEqual(h[0], first) {
		t.Errorf("history = %+v; want only %+v", h, first)
	}
	// Two appends with the same time are two entries.
	if err := s.AppendHistory(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History(t.Context(), "bgd-h"); err != nil || len(h) != 3 {
		t.Errorf("history after two appends at the same time: %d entries, %v; want 3", len(h), err)
	}
}

func TestHistoryOldestFirstAcrossPages(t *testing.T) {
	srv := dynalitetest.Start(t)
	if err := CreateTable(t.Context(), srv.Client, testTable); err != nil {
		t.Fatal(err)
	}
	client, calls := countingClient(srv)
	s := New(client, testTable, WithPageSize(3))
	mustCreate(t, s, orchestrate.Record{Deployment: "bgd-a", Phase: orchestrate.PhaseCapturing})
	base := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	const n = 14
	var want []orchestrate.HistoryEntry
	for i := range n {
		// Sub-second steps that RFC3339Nano would sort wrongly (.5 after .25).
		want = append(want, orchestrate.HistoryEntry{
			Deployment: "bgd-a", Time: base.Add(time.Duration(i) * 250 * time.Millisecond),
			Actor: "reconcile/req", Step: fmt.Sprintf("step-%02d", i), Outcome: "done",
		})
	}
	for _, i := range rand.Perm(n) { // appended out of order
		if err := s.AppendHistory(t.Context(), want[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Another deployment's history and records are not included.
	if err := s.AppendHistory(t.Context(), orchestrate.HistoryEntry{Deployment: "bgd-b", Time: base, Step: "other"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, orchestrate.Record{Deployment: "bgd-b", Phase: orchestrate.PhaseCapturing})

	before := calls("Query")
	got, err := s.History(t.Context(), "bgd-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("History returned %d entries; want %d", len(got), n)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if pages := calls("Query") - before; pages < n/3 {
		t.Errorf("History made %d Query calls; want every page of 3 read (≥ %d)", pages, n/3)
	}

	none, err := s.History(t.Context(), "bgd-none")
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("History of a deployment without entries = %#v, %v; want empty, no error", none, err)
	}
}
