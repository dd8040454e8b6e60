// Command echo is a test-only Lambda function for package lambdatest: it
// answers with what the runtime told it about the invocation, fails on
// request, and reports an init error when ECHO_INIT_ERROR is set.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Echo string `json:"echo"`
	Fail string `json:"fail"` // return an *echoError with this message
	Env  string `json:"env"`  // report this environment variable
}

type response struct {
	RequestID   string `json:"request_id"`
	FunctionARN string `json:"function_arn"`
	DeadlineMS  int64  `json:"deadline_ms"`
	Echo        string `json:"echo"`
	Env         string `json:"env,omitempty"`
}

type echoError struct{ msg string }

func (e *echoError) Error() string { return e.msg }

func handle(ctx context.Context, req request) (response, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return response{}, fmt.Errorf("no Lambda context")
	}
	fmt.Printf(`{"msg":"invoked","request_id":%q}`+"\n", lc.AwsRequestID)
	if req.Fail != "" {
		return response{}, &echoError{msg: req.Fail}
	}
	deadline, _ := ctx.Deadline()
	return response{
		RequestID:   lc.AwsRequestID,
		FunctionARN: lc.InvokedFunctionArn,
		DeadlineMS:  deadline.UnixMilli(),
		Echo:        req.Echo,
		Env:         os.Getenv(req.Env),
	}, nil
}

// initError reports a failed initialization to the Runtime API, as a
// function that cannot load its configuration does, and exits.
func initError(msg string) {
	body, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": "Runtime.InitError"})
	req, err := http.NewRequest(http.MethodPost, "http://"+os.Getenv("AWS_LAMBDA_RUNTIME_API")+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
		client := &http.Client{Timeout: 10 * time.Second}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	fmt.Fprintln(os.Stderr, "init failed:", msg)
	os.Exit(1)
}

func main() {
	if msg := os.Getenv("ECHO_INIT_ERROR"); msg != "" {
		initError(msg)
	}
	lambda.Start(handle)
}
