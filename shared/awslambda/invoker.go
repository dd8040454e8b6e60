// Package awslambda adapts the Lambda API to shared/orchestrate's Invoker
// and VerifyInvoker: capture and reconcile ask for a configure run
// without waiting for it, and the verify function queues the invocation
// of itself that continues a verify run. It is a package of its own so
// that only the functions that invoke a function link the Lambda client.
package awslambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/switchback/switchback/shared/orchestrate"
)

// API is the part of *lambda.Client that Invoker uses.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Invoker implements orchestrate.Invoker and orchestrate.VerifyInvoker:
// it invokes its function (configure; or the verify function itself)
// asynchronously (InvocationType Event), so the caller does not wait for
// the run; Lambda queues the event and retries a failed run.
type Invoker struct {
	api      API
	function string
}

var (
	_ orchestrate.Invoker       = (*Invoker)(nil)
	_ orchestrate.VerifyInvoker = (*Invoker)(nil)
)

// NewInvoker returns an Invoker of function (a name or ARN) through api.
func NewInvoker(api API, function string) *Invoker {
	return &Invoker{api: api, function: function}
}

// InvokeConfigure queues one configure run for req.Deployment. Lambda
// accepts an Event invocation with 202; any other status, or a function
// error, is an error.
func (i *Invoker) InvokeConfigure(ctx context.Context, req orchestrate.ConfigureRequest) error {
	if req.Deployment == "" {
		return errors.New("invoke configure: the request names no deployment")
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("invoke configure for %s: %w", req.Deployment, err)
	}
	return i.invokeEvent(ctx, req.Deployment, payload)
}

// InvokeVerify queues the invocation that continues a verify run: req as
// its payload (the verify function's payload, which
// orchestrate.DecodeVerifyRequest reads back). Errors are as
// InvokeConfigure's.
func (i *Invoker) InvokeVerify(ctx context.Context, req orchestrate.VerifyRequest) error {
	if req.Deployment == "" {
		return errors.New("invoke verify: the request names no deployment")
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("invoke verify for %s: %w", req.Deployment, err)
	}
	return i.invokeEvent(ctx, req.Deployment, payload)
}

// invokeEvent invokes the function with payload as an Event invocation.
func (i *Invoker) invokeEvent(ctx context.Context, deployment string, payload []byte) error {
	out, err := i.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   &i.function,
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s for deployment %s: %w", i.function, deployment, err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("invoke %s for deployment %s: function error %s: %s", i.function, deployment, *out.FunctionError, clip(out.Payload, 512))
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invoke %s for deployment %s: Lambda answered status %d, want 202 (an accepted Event invocation)", i.function, deployment, out.StatusCode)
	}
	return nil
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
