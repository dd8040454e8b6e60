// Package dynamostate is the DynamoDB implementation of orchestrate.Store:
// one table, string keys pk and sk, one record item per deployment and
// append-only history items beside it.
//
// Item layout (every item has pk = the deployment id):
//
//	sk = "record"                         the Record: every field under its
//	                                      dynamodbav name, "version" (N) for
//	                                      optimistic updates, and "lease"
//	                                      (M: holder, expires) when leased
//	sk = "history#<time>#<random suffix>" one HistoryEntry, written once with
//	                                      attribute_not_exists and never
//	                                      updated
//
// Times are stored as strings in a fixed-width UTC form of RFC 3339
// ("2006-01-02T15:04:05.000000000Z"), so that string order is time order:
// history sort keys sort oldest first and a lease's expiry can be compared
// with the current time inside a condition expression. (time.RFC3339Nano
// drops trailing zeros, and ".5Z" would sort after ".25Z".)
//
// Every write that can conflict is conditional; a failed condition is
// mapped to orchestrate's sentinel errors (ErrExists, ErrStaleVersion,
// ErrLeaseHeld, ErrNotFound), wrapped with the table and the deployment.
package dynamostate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// Key attribute names and sort-key values of the table.
const (
	// AttrPK is the partition key attribute: the deployment id.
	AttrPK = "pk"
	// AttrSK is the sort key attribute: SKRecord or a history key.
	AttrSK = "sk"
	// SKRecord is the sort key of a deployment's record item.
	SKRecord = "record"
	// HistoryPrefix starts the sort key of every history item.
	HistoryPrefix = "history#"
)

// Attribute names of the record item the store's expressions use (the
// dynamodbav names of orchestrate.Record and orchestrate.Lease).
const (
	attrDeployment = "deployment"
	attrVersion    = "version"
	attrLease      = "lease"
	attrHolder     = "holder"
	attrExpires    = "expires"
)

// TimeLayout is how the store writes every time: RFC 3339 in UTC with
// exactly nine fractional digits, so that string order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// maxLeaseAttempts bounds AcquireLease's retries when its condition failed
// but the lease it then read was free (released between the two calls).
const maxLeaseAttempts = 5

// Store is an orchestrate.Store backed by one DynamoDB table. It is safe
// for concurrent use.
type Store struct {
	client   *dynamodb.Client
	table    string
	pageSize int32
	now      func() time.Time
}

var _ orchestrate.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithPageSize sets the Limit of every Scan and Query page (List,
// History); zero, the default, lets DynamoDB fill pages up to 1 MB. Tests
// use a small size to cross page boundaries.
func WithPageSize(n int32) Option {
	return func(s *Store) { s.pageSize = n }
}

// WithClock sets the clock AcquireLease compares lease expiry with and
// AppendHistory stamps entries without a time with (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a Store on table, which must have string keys pk (partition)
// and sk (sort), as CreateTable makes it.
func New(client *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// CreateTable creates table with string keys pk (partition) and sk (sort),
// billed on demand, and waits until it is active. It is for tests and
// local use; production tables come from the CDK stack. It fails if the
// table exists.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb table %s: create: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("dynamodb table %s: wait until active: %w", table, err)
	}
	return nil
}

// Get returns the record, or an error wrapping orchestrate.ErrNotFound.
// The read is strongly consistent.
func (s *Store) Get(ctx context.Context, deployment string) (orchestrate.Record, error) {
	item, err := s.getRecordItem(ctx, deployment)
	if err != nil {
		return orchestrate.Record{}, s.wrap(deployment, "get record", err)
	}
	if item == nil {
		return orchestrate.Record{}, s.wrap(deployment, "get record", orchestrate.ErrNotFound)
	}
	rec, err := decodeRecord(item)
	if err != nil {
		return orchestrate.Record{}, s.wrap(deployment, "get record", err)
	}
	return rec, nil
}

// Create stores rec as a new record with Version 1 and no lease (leases
// come only from AcquireLease); an error wrapping orchestrate.ErrExists if
// the deployment has a record already.
func (s *Store) Create(ctx context.Context, rec orchestrate.Record) (orchestrate.Record, error) {
	if rec.Deployment == "" {
		return orchestrate.Record{}, fmt.Errorf("dynamodb table %s: create record: empty deployment id", s.table)
	}
	rec.Version = 1
	rec.Lease = nil
	item, err := encodeRecord(rec)
	if err != nil {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "create record", err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if isConditionFailed(err) {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "create record", orchestrate.ErrExists)
	}
	if err != nil {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "create record", err)
	}
	return rec, nil
}

// Update stores every field of rec but the lease if the stored version is
// still rec.Version, and returns the stored record (Version+1, the lease as
// stored). Optional fields rec leaves empty are removed. An error wraps
// orchestrate.ErrStaleVersion when the version moved on, and
// orchestrate.ErrNotFound when there is no record.
func (s *Store) Update(ctx context.Context, rec orchestrate.Record) (orchestrate.Record, error) {
	item, err := encodeRecord(rec)
	if err != nil {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "update record", err)
	}
	names := map[string]string{"#version": attrVersion}
	values := map[string]types.AttributeValue{
		":expected": numberValue(rec.Version),
		":one":      numberValue(1),
	}
	var set, remove []string
	for i, attr := range updatableAttributes {
		placeholder := "#a" + strconv.Itoa(i)
		if av, ok := item[attr]; ok {
			names[placeholder] = attr
			values[":a"+strconv.Itoa(i)] = av
			set = append(set, placeholder+" = :a"+strconv.Itoa(i))
		} else {
			names[placeholder] = attr
			remove = append(remove, placeholder)
		}
	}
	set = append(set, "#version = #version + :one")
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 recordKey(rec.Deployment),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("#version = :expected"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "update record", s.versionConflict(ctx, rec.Deployment, rec.Version, err))
	}
	stored, err := decodeRecord(out.Attributes)
	if err != nil {
		return orchestrate.Record{}, s.wrap(rec.Deployment, "update record", err)
	}
	return stored, nil
}

// Delete removes the record if its version is still version (history
// stays); an error wraps orchestrate.ErrStaleVersion or
// orchestrate.ErrNotFound otherwise.
func (s *Store) Delete(ctx context.Context, deployment string, version int64) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 recordKey(deployment),
		ConditionExpression:                 aws.String("#version = :expected"),
		ExpressionAttributeNames:            map[string]string{"#version": attrVersion},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":expected": numberValue(version)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return s.wrap(deployment, "delete record", s.versionConflict(ctx, deployment, version, err))
	}
	return nil
}

// versionConflict turns a failed "version = :expected" condition into
// ErrNotFound (no record) or ErrStaleVersion (naming the stored version);
// any other error is returned as it is.
func (s *Store) versionConflict(ctx context.Context, deployment string, expected int64, err error) error {
	item, failed, rerr := s.conditionItem(ctx, deployment, err)
	switch {
	case !failed:
		return err
	case rerr != nil:
		return fmt.Errorf("%w (then reading it: %v)", orchestrate.ErrStaleVersion, rerr)
	case item == nil:
		return orchestrate.ErrNotFound
	}
	var v struct {
		Version int64 `dynamodbav:"version"`
	}
	if err := attributevalue.UnmarshalMap(item, &v); err != nil {
		return fmt.Errorf("%w (expected version %d)", orchestrate.ErrStaleVersion, expected)
	}
	return fmt.Errorf("%w: expected version %d, stored %d", orchestrate.ErrStaleVersion, expected, v.Version)
}

// List returns every record, sorted by deployment id, reading the table
// with a paginated, strongly consistent Scan.
func (s *Store) List(ctx context.Context) ([]orchestrate.Record, error) {
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          aws.String("#sk = :record"),
		ExpressionAttributeNames:  map[string]string{"#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":record": &types.AttributeValueMemberS{Value: SKRecord}},
		ConsistentRead:            aws.Bool(true),
	}
	if s.pageSize > 0 {
		in.Limit = aws.Int32(s.pageSize)
	}
	var recs []orchestrate.Record
	for p := dynamodb.NewScanPaginator(s.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamodb table %s: list records: %w", s.table, err)
		}
		for _, item := range page.Items {
			rec, err := decodeRecord(item)
			if err != nil {
				return nil, fmt.Errorf("dynamodb table %s: list records: %w", s.table, err)
			}
			recs = append(recs, rec)
		}
	}
	slices.SortFunc(recs, func(a, b orchestrate.Record) int { return strings.Compare(a.Deployment, b.Deployment) })
	return recs, nil
}

// LeaseHeldError is the error AcquireLease returns when another worker
// holds an unexpired lease. It wraps orchestrate.ErrLeaseHeld.
type LeaseHeldError struct {
	// Deployment is the record's id.
	Deployment string
	// Holder and Expires describe the lease that is held.
	Holder  string
	Expires time.Time
}

// Error names the holder and the expiry.
func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%v: %s holds it until %s", orchestrate.ErrLeaseHeld, e.Holder, e.Expires.UTC().Format(time.RFC3339Nano))
}

// Unwrap returns orchestrate.ErrLeaseHeld.
func (e *LeaseHeldError) Unwrap() error { return orchestrate.ErrLeaseHeld }

// AcquireLease gives holder the lease for ttl if it is free, expired or
// already holder's (then it is extended to now+ttl), with one conditional
// UpdateItem on the record item; the record's version does not change.
// Otherwise the error wraps a *LeaseHeldError (orchestrate.ErrLeaseHeld)
// naming the holder and expiry, or orchestrate.ErrNotFound when there is
// no record.
func (s *Store) AcquireLease(ctx context.Context, deployment, holder string, ttl time.Duration) (orchestrate.Lease, error) {
	if holder == "" || ttl <= 0 {
		return orchestrate.Lease{}, fmt.Errorf("dynamodb table %s: deployment %s: acquire lease: need a holder and a positive ttl (got %q, %s)", s.table, deployment, holder, ttl)
	}
	for range maxLeaseAttempts {
		now := s.now().UTC()
		lease := orchestrate.Lease{Holder: holder, Expires: now.Add(ttl)}
		av, err := encoder().Encode(lease)
		if err != nil {
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease", err)
		}
		_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        aws.String(s.table),
			Key:              recordKey(deployment),
			UpdateExpression: aws.String("SET #lease = :lease"),
			ConditionExpression: aws.String("attribute_exists(#pk) AND (attribute_not_exists(#lease) OR " +
				"#lease.#expires <= :now OR #lease.#holder = :holder)"),
			ExpressionAttributeNames: map[string]string{
				"#pk": AttrPK, "#lease": attrLease, "#expires": attrExpires, "#holder": attrHolder,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":lease":  av,
				":now":    timeValue(now),
				":holder": &types.AttributeValueMemberS{Value: holder},
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return lease, nil
		}
		item, failed, rerr := s.conditionItem(ctx, deployment, err)
		switch {
		case !failed:
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease", err)
		case rerr != nil:
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease", fmt.Errorf("%w (then reading the record: %v)", orchestrate.ErrLeaseHeld, rerr))
		case item == nil:
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease", orchestrate.ErrNotFound)
		}
		held, err := heldLease(item, holder, now)
		if err != nil {
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease", err)
		}
		if held != nil {
			return orchestrate.Lease{}, s.wrap(deployment, "acquire lease",
				&LeaseHeldError{Deployment: deployment, Holder: held.Holder, Expires: held.Expires})
		}
		// The lease was released or expired between the write and the
		// read: try again.
	}
	return orchestrate.Lease{}, s.wrap(deployment, "acquire lease",
		fmt.Errorf("%w: the lease changed hands %d times while acquiring it", orchestrate.ErrLeaseHeld, maxLeaseAttempts))
}

// heldLease returns the lease of a record item that stops holder from
// taking it at now: nil when there is none, it has expired, or it is
// holder's own.
func heldLease(item map[string]types.AttributeValue, holder string, now time.Time) (*orchestrate.Lease, error) {
	rec, err := decodeRecord(item)
	if err != nil {
		return nil, err
	}
	if l := rec.Lease; l != nil && l.Holder != holder && l.Expires.After(now) {
		return l, nil
	}
	return nil, nil
}

// ReleaseLease removes holder's lease from the record; when the lease is
// someone else's, or there is no lease or no record, it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, deployment, holder string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       recordKey(deployment),
		UpdateExpression:          aws.String("REMOVE #lease"),
		ConditionExpression:       aws.String("#lease.#holder = :holder"),
		ExpressionAttributeNames:  map[string]string{"#lease": attrLease, "#holder": attrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{":holder": &types.AttributeValueMemberS{Value: holder}},
	})
	if err != nil && !isConditionFailed(err) {
		return s.wrap(deployment, "release lease", err)
	}
	return nil
}

// AppendHistory writes e as a new history item (sort key
// "history#<time>#<random suffix>", with a condition that it does not
// exist yet: items are never overwritten). A zero e.Time is set to now.
// The record need not exist.
func (s *Store) AppendHistory(ctx context.Context, e orchestrate.HistoryEntry) error {
	if e.Deployment == "" {
		return fmt.Errorf("dynamodb table %s: append history: empty deployment id", s.table)
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return s.putHistory(ctx, e, historySK(e.Time, randomSuffix()))
}

// putHistory writes e under sort key sk unless an item has it already;
// then the error wraps orchestrate.ErrExists.
func (s *Store) putHistory(ctx context.Context, e orchestrate.HistoryEntry, sk string) error {
	av, err := encoder().Encode(e)
	if err != nil {
		return s.wrap(e.Deployment, "append history", err)
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return s.wrap(e.Deployment, "append history", fmt.Errorf("history entry encoded as %T, want a map", av))
	}
	item := m.Value
	item[AttrPK] = &types.AttributeValueMemberS{Value: e.Deployment}
	item[AttrSK] = &types.AttributeValueMemberS{Value: sk}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if isConditionFailed(err) {
		return s.wrap(e.Deployment, "append history", fmt.Errorf("%w: history item %s (history is append-only)", orchestrate.ErrExists, sk))
	}
	if err != nil {
		return s.wrap(e.Deployment, "append history", err)
	}
	return nil
}

// History returns the deployment's history entries, oldest first, reading
// them with a paginated, strongly consistent Query (pk = deployment, sk
// begins with "history#"). A deployment without history has none (no
// error).
func (s *Store) History(ctx context.Context, deployment string) ([]orchestrate.HistoryEntry, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#sk": AttrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: deployment},
			":prefix": &types.AttributeValueMemberS{Value: HistoryPrefix},
		},
		ScanIndexForward: aws.Bool(true),
		ConsistentRead:   aws.Bool(true),
	}
	if s.pageSize > 0 {
		in.Limit = aws.Int32(s.pageSize)
	}
	entries := []orchestrate.HistoryEntry{}
	for p := dynamodb.NewQueryPaginator(s.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap(deployment, "read history", err)
		}
		for _, item := range page.Items {
			var e orchestrate.HistoryEntry
			if err := decoder().Decode(&types.AttributeValueMemberM{Value: item}, &e); err != nil {
				return nil, s.wrap(deployment, "read history", err)
			}
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// getRecordItem reads the record item consistently; nil when there is none.
func (s *Store) getRecordItem(ctx context.Context, deployment string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            recordKey(deployment),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// conditionItem reports whether err is a failed condition and, if so,
// returns the record item as it was then: from the exception
// (ReturnValuesOnConditionCheckFailure ALL_OLD, which DynamoDB honours)
// or, when the server sent none (dynalite ignores the parameter, and
// DynamoDB sends nothing when there is no item), from a consistent read.
// The item is nil when there is no record.
func (s *Store) conditionItem(ctx context.Context, deployment string, err error) (item map[string]types.AttributeValue, failed bool, readErr error) {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return nil, false, nil
	}
	if len(ccf.Item) > 0 {
		return ccf.Item, true, nil
	}
	item, readErr = s.getRecordItem(ctx, deployment)
	return item, true, readErr
}

// wrap adds the table, the deployment and the operation to err.
func (s *Store) wrap(deployment, op string, err error) error {
	return fmt.Errorf("dynamodb table %s: deployment %s: %s: %w", s.table, deployment, op, err)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func recordKey(deployment string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: deployment},
		AttrSK: &types.AttributeValueMemberS{Value: SKRecord},
	}
}

// historySK is the sort key of a history item written at t.
func historySK(t time.Time, suffix string) string {
	return HistoryPrefix + formatTime(t) + "#" + suffix
}

// randomSuffix tells apart history items written in the same nanosecond.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

func numberValue(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func timeValue(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: formatTime(t)}
}

// encoder writes times in TimeLayout and omits zero times tagged
// omitempty.
func encoder() *attributevalue.Encoder {
	return attributevalue.NewEncoder(func(o *attributevalue.EncoderOptions) {
		o.EncodeTime = func(t time.Time) (types.AttributeValue, error) { return timeValue(t), nil }
		o.OmitEmptyTime = true
	})
}

// decoder reads times written in any RFC 3339 form.
func decoder() *attributevalue.Decoder {
	return attributevalue.NewDecoder(func(o *attributevalue.DecoderOptions) {
		o.DecodeTime.S = func(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
	})
}

// encodeRecord returns the record item for rec: its key, every field under
// its dynamodbav name, and no lease (leases are written only by
// AcquireLease and ReleaseLease).
func encodeRecord(rec orchestrate.Record) (map[string]types.AttributeValue, error) {
	rec.Lease = nil
	av, err := encoder().Encode(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("encode record: got %T, want a map", av)
	}
	item := m.Value
	delete(item, attrLease)
	item[AttrPK] = &types.AttributeValueMemberS{Value: rec.Deployment}
	item[AttrSK] = &types.AttributeValueMemberS{Value: SKRecord}
	return item, nil
}

// decodeRecord reads a record item (the key attributes are ignored).
func decodeRecord(item map[string]types.AttributeValue) (orchestrate.Record, error) {
	var rec orchestrate.Record
	if err := decoder().Decode(&types.AttributeValueMemberM{Value: item}, &rec); err != nil {
		return orchestrate.Record{}, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

// updatableAttributes are the record attributes Update sets (or removes
// when rec leaves them empty): every dynamodbav name of orchestrate.Record
// but the deployment (it is the key), the version (Update increments it)
// and the lease (only the lease operations touch it). They come from the
// struct tags, so a field added to Record is updated without a change here.
var updatableAttributes = recordAttributes()

func recordAttributes() []string {
	var names []string
	t := reflect.TypeFor[orchestrate.Record]()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		switch name {
		case attrDeployment, attrVersion, attrLease:
			continue
		}
		names = append(names, name)
	}
	return names
}
