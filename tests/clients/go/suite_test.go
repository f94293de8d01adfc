package clients

// testcontainers-go against a sockerlessd: run by tests/clients/test_testcontainers.py, which
// sets SOCKERLESS_TEST_DOCKER_HOST (and DOCKER_HOST, TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1),
// SOCKERLESS_TEST_BUSYBOX (an image reference in the harness registry) and
// SOCKERLESS_TEST_LEFT_FILE. The reaper is on: every test's containers carry the session's
// labels. Without those variables these tests skip, and the pytest side fails on a skip.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

const idle = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"

func env(t *testing.T, name string) string {
	t.Helper()
	if os.Getenv("SOCKERLESS_TEST_DOCKER_HOST") == "" {
		t.Skip("SOCKERLESS_TEST_DOCKER_HOST not set (run from tests/clients/test_testcontainers.py)")
	}
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s not set", name)
	}
	return v
}

// execOut runs cmd in c and returns its exit code and combined output.
func execOut(t *testing.T, ctx context.Context, c testcontainers.Container, cmd ...string) (int, string) {
	t.Helper()
	code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("exec %q output: %v", cmd, err)
	}
	return code, string(out)
}

func TestGenericContainer(t *testing.T) {
	image := env(t, "SOCKERLESS_TEST_BUSYBOX")
	ctx := context.Background()
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd("sh", "-c", "echo starting; sleep 1; echo ready-for-tests; "+idle),
		testcontainers.WithEnv(map[string]string{"GREETING": "hello-from-go"}),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: strings.NewReader("copied before start\n"), ContainerFilePath: "/tmp/in/before.txt", FileMode: 0o644,
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("ready-for-tests").WithStartupTimeout(30*time.Second)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}

	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(logs)
	if string(b) != "starting\nready-for-tests\n" {
		t.Errorf("logs: %q", b)
	}
	if code, out := execOut(t, ctx, c, "sh", "-c", `cat /tmp/in/before.txt; echo "$GREETING"`); code != 0 || out != "copied before start\nhello-from-go\n" {
		t.Errorf("exec: %d %q", code, out)
	}
	if code, out := execOut(t, ctx, c, "sh", "-c", "echo to-stderr >&2; exit 4"); code != 4 || out != "to-stderr\n" {
		t.Errorf("exec exit code: %d %q", code, out)
	}
	if code, out := execOut(t, ctx, c, "pwd"); code != 0 || out != "/\n" {
		t.Errorf("exec working dir: %d %q", code, out)
	}

	data := []byte("\x00\x01binary\xff")
	if err := c.CopyToContainer(ctx, data, "/tmp/later/data.bin", 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := execOut(t, ctx, c, "stat", "-c", "%a %s", "/tmp/later/data.bin"); code != 0 || out != "600 9\n" {
		t.Errorf("copied file: %d %q", code, out)
	}
	rc, err := c.CopyFileFromContainer(ctx, "/tmp/later/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(back, data) {
		t.Errorf("copied back: %q", back)
	}

	state, err := c.State(ctx)
	if err != nil || !state.Running {
		t.Fatalf("state: %+v %v", state, err)
	}
	id := c.GetContainerID()
	if err := c.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.State(ctx); err == nil {
		t.Errorf("container %s still there after Terminate", id)
	}
}

func TestPortWait(t *testing.T) {
	image := env(t, "SOCKERLESS_TEST_BUSYBOX")
	ctx := context.Background()
	c, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd("sh", "-c", "mkdir /www && echo served-by-busybox > /www/index.html && exec httpd -f -p 8080 -h /www"),
		testcontainers.WithExposedPorts("8080/tcp"),
		// Both checks: inside the container (exec of a shell probe) and from the host.
		testcontainers.WithWaitStrategy(wait.ForListeningPort("8080/tcp").WithStartupTimeout(30*time.Second)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	host, err := c.Host(ctx)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("host: %q %v", host, err)
	}
	port, err := c.MappedPort(ctx, "8080/tcp")
	if err != nil || port.Num() == 0 || port.Num() == 8080 {
		t.Fatalf("mapped port: %v %v", port, err)
	}
	url := fmt.Sprintf("http://%s/index.html", net.JoinHostPort(host, port.Port()))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "served-by-busybox\n" {
		t.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
	}
}

func TestNetworkAliases(t *testing.T) {
	image := env(t, "SOCKERLESS_TEST_BUSYBOX")
	ctx := context.Background()
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatal(err)
	}
	server, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd("sh", "-c", "mkdir /www; echo hello-by-alias > /www/index.html; httpd -p 8080 -h /www && echo serving; "+idle),
		network.WithNetwork([]string{"web", "www.internal"}, nw),
		testcontainers.WithWaitStrategy(wait.ForLog("serving")),
	)
	testcontainers.CleanupContainer(t, server)
	if err != nil {
		t.Fatal(err)
	}
	client, err := testcontainers.Run(ctx, image,
		testcontainers.WithCmd("sh", "-c", idle),
		network.WithNetwork(nil, nw),
	)
	testcontainers.CleanupContainer(t, client)
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"web", "www.internal"} {
		code, out := execOut(t, ctx, client, "sh", "-c", fmt.Sprintf(`printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc %s 8080`, alias))
		if code != 0 || !strings.HasSuffix(out, "\r\n\r\nhello-by-alias\n") {
			t.Errorf("GET by %s: %d %q", alias, code, out)
		}
	}
	info, err := server.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ep := info.NetworkSettings.Networks[nw.Name]
	if ep == nil || !contains(ep.Aliases, "web") || !contains(ep.Aliases, "www.internal") {
		t.Errorf("endpoint on %s: %+v", nw.Name, ep)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestReaperLeaves leaves a container to the reaper: it starts one and ends without
// terminating it. The pytest side checks that the reaper removes it once this process is
// gone (its connection to the reaper closes with it).
func TestReaperLeaves(t *testing.T) {
	image := env(t, "SOCKERLESS_TEST_BUSYBOX")
	leftFile := env(t, "SOCKERLESS_TEST_LEFT_FILE")
	ctx := context.Background()
	c, err := testcontainers.Run(ctx, image, testcontainers.WithCmd("sh", "-c", idle))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// What makes it the reaper's: the session's labels, which the reaper was given as filters.
	if l := info.Config.Labels; l["org.testcontainers.reap"] != "true" || l["org.testcontainers.sessionId"] == "" {
		t.Fatalf("labels: %v", l)
	}
	if err := os.WriteFile(leftFile, []byte(c.GetContainerID()), 0o644); err != nil {
		t.Fatal(err)
	}
}
