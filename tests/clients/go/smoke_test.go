// Package clients holds the Go Testcontainers suites run against sockerless.
package clients

import (
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

// TestCompiles only proves the pinned testcontainers-go builds here; the suites that
// start containers live beside it and need SOCKERLESS_TEST_DOCKER_HOST.
func TestCompiles(t *testing.T) {
	var req testcontainers.ContainerRequest
	req.Image = "busybox:latest"
	if req.Image == "" {
		t.Fatal("unreachable")
	}
}
