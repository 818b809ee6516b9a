// Package browsertest finds the headless browser the browser tests drive
// (with chromedp) and keeps their screenshots as artifacts.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Find returns a Chromium or Chrome binary: $QS_CHROME, else the usual
// names on PATH (Debian's chromium package installs /usr/bin/chromium);
// "" if there is none (the caller skips).
func Find() string {
	if p := os.Getenv("QS_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// SkipReason is what a test says when Find found nothing.
const SkipReason = "no chromium or chrome binary found (apt-get install chromium, or set QS_CHROME)"

// Artifact writes data as the test artifact name: in $QS_ARTIFACTS if
// set, else t.ArtifactDir() (go test -artifacts keeps it). It returns the
// path.
func Artifact(t *testing.T, name string, data []byte) string {
	t.Helper()
	dir := os.Getenv("QS_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
