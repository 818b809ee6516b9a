package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// TestQsctlAgainstARealFrontEnd runs every command against the
// dispatcher of a front end over an in-process cluster: tables, -o json,
// a change that lands (drain) and ones the API refuses, and bad usage.
func TestQsctlAgainstARealFrontEnd(t *testing.T) {
	c := rapstest.New(t, 4, rapstest.WithKVPartitions(4))
	c.WaitConverged(60 * time.Second)
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 30*time.Second)
	dc := dispatcher.DefaultConfig()
	dc.Router, dc.AdminToken = fe, "tok"
	d, err := dispatcher.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	env := func(k string) (string, bool) {
		switch k {
		case "QS_ADDR":
			return srv.URL, true
		case "QS_ADMIN_TOKEN":
			return "tok", true
		}
		return "", false
	}
	qsctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut, env)
		return code, out.String(), errOut.String()
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"members"}, []string{"ID", "STATE", "map epoch"}},
		{[]string{"map"}, []string{"SERVICE", "PARTITION", "kv"}},
		{[]string{"history", "-limit", "3"}, []string{"EPOCH", "bootstrap"}},
		{[]string{"moves"}, []string{"no moves in progress"}},
		{[]string{"trace", "kv", "greeting"}, []string{"partition kv/", "chosen: node"}},
	} {
		code, out, errOut := qsctl(tc.args...)
		if code != 0 {
			t.Fatalf("qsctl %v: exit %d: %s", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Fatalf("qsctl %v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	code, out, _ := qsctl("-o", "json", "members")
	var doc struct {
		Members []map[string]any `json:"members"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Members) == 0 {
		t.Fatalf("-o json members: exit %d, %q", code, out)
	}
	if code, out, errOut := qsctl("drain", "4"); code != 0 || !strings.Contains(out, "ok: map epoch") {
		t.Fatalf("drain: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := qsctl("watch", "-every", "50ms"); code != 0 {
		t.Fatalf("watch: exit %d %s", code, errOut)
	}
	c.WaitFor("node 4 drained", 60*time.Second, func() bool {
		m := fe.Map()
		for i := range m.Partitions {
			for _, cl := range m.Partitions[i].Clones {
				if cl.Node == 4 {
					return false
				}
			}
		}
		return true
	})
	for _, tc := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"clones", "nope", "3"}, 1, "unknown_service"},
		{[]string{"move", "kv", "0", "1", "99"}, 1, "400"},
		{[]string{"-token", "wrong", "members"}, 1, "401"},
		{[]string{"drain", "x"}, 2, "not a node id"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"-o", "yaml", "members"}, 2, "-o"},
		{[]string{"trace", "kv"}, 2, "trace SERVICE KEY"},
	} {
		code, _, errOut := qsctl(tc.args...)
		if code != tc.exit || !strings.Contains(errOut, tc.want) {
			t.Fatalf("qsctl %v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.exit, errOut, tc.want)
		}
	}
}
