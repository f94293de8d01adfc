// The AWS SDK for Go v2 against sockerless-sim (run by tests/sims/test_sdks.py with
// SOCKERLESS_SIM_ENDPOINT and the simulator's credentials in the environment). The Go SDK
// signs differently from botocore (it does not normalise paths, it orders headers its own
// way), so the simulator's SigV4 check is judged by it too.
package sims

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func cfg(t *testing.T, secret string) aws.Config {
	t.Helper()
	endpoint := os.Getenv("SOCKERLESS_SIM_ENDPOINT")
	if endpoint == "" {
		t.Fatal("SOCKERLESS_SIM_ENDPOINT is not set")
	}
	c, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithBaseEndpoint(endpoint),
		config.WithRetryMaxAttempts(1),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestECS(t *testing.T) {
	ctx := context.Background()
	client := ecs.NewFromConfig(cfg(t, "test"))
	c, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("go-sdk")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(c.Cluster.ClusterArn); got != "arn:aws:ecs:us-east-1:123456789012:cluster/go-sdk" {
		t.Fatalf("cluster ARN %q", got)
	}
	td, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("go-sdk"),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String("busybox"), Essential: aws.Bool(true),
			Command: []string{"true"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if td.TaskDefinition.Revision != 1 || td.TaskDefinition.Status != ecstypes.TaskDefinitionStatusActive {
		t.Fatalf("task definition %+v", td.TaskDefinition)
	}
	d, err := client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"go-sdk", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe %+v", d)
	}
	_, err = client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("no-such-cluster"), TaskDefinition: aws.String("go-sdk")})
	var notFound *ecstypes.ClusterNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("RunTask on a missing cluster: %v", err)
	}
}

func TestLogs(t *testing.T) {
	ctx := context.Background()
	client := cloudwatchlogs.NewFromConfig(cfg(t, "test"))
	if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/go/sdk")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String("/go/sdk"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	_, err := client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String("/go/sdk"), LogStreamName: aws.String("s"),
		LogEvents: []logtypes.InputLogEvent{{Timestamp: aws.Int64(now), Message: aws.String("from go")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/go/sdk"), LogStreamName: aws.String("s"), StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || aws.ToString(out.Events[0].Message) != "from go" {
		t.Fatalf("events %+v", out.Events)
	}
	_, err = client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/go/sdk")})
	var exists *logtypes.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second CreateLogGroup: %v", err)
	}
}

// A Lambda call whose path carries an ARN: the Go SDK escapes ':' in the path and signs it
// escaped again, without normalising.
func TestLambdaPathSigning(t *testing.T) {
	ctx := context.Background()
	client := lambda.NewFromConfig(cfg(t, "test"))
	arn := "arn:aws:lambda:us-east-1:123456789012:function:not-there"
	_, err := client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arn)})
	var notFound *lambdatypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("GetFunction of a missing function: %v", err)
	}
	if !strings.Contains(err.Error(), "not-there") {
		t.Fatalf("message does not name the function: %v", err)
	}
}

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	me, err := sts.NewFromConfig(cfg(t, "test")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(me.Account) != "123456789012" {
		t.Fatalf("account %q", aws.ToString(me.Account))
	}
	_, err = ecs.NewFromConfig(cfg(t, "wrong-secret")).ListClusters(ctx, &ecs.ListClustersInput{})
	if apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("ECS with a wrong secret: %v", err)
	}
	_, err = sts.NewFromConfig(cfg(t, "wrong-secret")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("STS with a wrong secret: %v", err)
	}
}
