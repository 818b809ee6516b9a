package membership

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

func TestMetaRoundTripAndSize(t *testing.T) {
	for _, m := range []nodeMeta{
		{ID: 1, Static: Static{Addr: "10.0.0.1:7000"}},
		{ID: 2, Static: Static{Addr: "10.0.0.2:7000", FrontEnd: true}},
		{ID: 1<<64 - 1, Epoch: 1<<64 - 1, Leaving: true,
			Static: Static{Addr: strings.Repeat("a", MaxStaticLen-10), Zone: strings.Repeat("z", 10)}},
	} {
		b := m.encode()
		if len(b) > memberlist.MetaMaxSize {
			t.Fatalf("meta of %d bytes exceeds MetaMaxSize", len(b))
		}
		got, err := decodeMeta(b)
		if err != nil || got != m {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
		}
	}
	typical := nodeMeta{ID: 12, Epoch: 345, Static: Static{Addr: "10.1.2.3:7000", Zone: "eu-west-1a"}}
	t.Logf("typical meta: %d bytes", len(typical.encode()))
}

func TestDecodeMetaRejects(t *testing.T) {
	good := nodeMeta{ID: 3, Epoch: 9, Static: Static{Addr: "x:1", Zone: "z"}}.encode()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(good[:len(good):len(good)], 0),
		"no id":     nodeMeta{}.encode(),
	} {
		if _, err := decodeMeta(b); !errors.Is(err, ErrBadMeta) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestLoadCodec(t *testing.T) {
	var got []loadEntry
	collect := func(_ groupcomm.NodeID, e loadEntry) { got = append(got, e) }
	msg := encodeLoadMsg(7, loadEntry{Version: 42, Load: 0.5})
	if k, err := decodeLoads(msg, collect); err != nil || k != msgLoad || got[0] != (loadEntry{42, 0.5}) {
		t.Fatalf("load msg: %v %v %v", k, err, got)
	}
	t.Logf("load message: %d bytes", len(msg))
	got = nil
	state := encodeLoadState(map[groupcomm.NodeID]loadEntry{1: {1, 1}, 2: {2, 2}})
	if k, err := decodeLoads(state, collect); err != nil || k != msgLoadState || len(got) != 2 {
		t.Fatalf("load state: %v %v %v", k, err, got)
	}
	got = nil
	bad := [][]byte{nil, {9}, msg[:len(msg)-1], append(msg[:len(msg):len(msg)], 1),
		encodeLoadMsg(0, loadEntry{1, 1}), encodeLoadMsg(1, loadEntry{1, math.NaN()}),
		state[:len(state)-3], {msgLoadState, 0xff, 0xff, 0xff, 0xff, 0x0f}}
	for i, b := range bad {
		if _, err := decodeLoads(b, collect); !errors.Is(err, ErrBadMeta) {
			t.Errorf("bad[%d]: err = %v", i, err)
		}
	}
	if len(got) != 0 {
		t.Errorf("entries applied from malformed buffers: %v", got)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(nodeMeta{ID: 3, Epoch: 9, Static: Static{Addr: "x:1", Zone: "z"}}.encode())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := decodeMeta(m.encode())
		if err != nil || again != m {
			t.Fatalf("re-encode: %+v %v, want %+v", again, err, m)
		}
	})
}

func FuzzDecodeLoads(f *testing.F) {
	f.Add(encodeLoadMsg(7, loadEntry{Version: 42, Load: 0.5}))
	f.Add(encodeLoadState(map[groupcomm.NodeID]loadEntry{1: {1, 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeLoads(b, func(id groupcomm.NodeID, e loadEntry) {
			if id == 0 || math.IsNaN(e.Load) || math.IsInf(e.Load, 0) {
				t.Fatalf("invalid entry %d %+v", id, e)
			}
		})
	})
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.NodeID = 1
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := ok.withDefaults().NodeName; got != "node-1" {
		t.Errorf("default NodeName %q", got)
	}
	zero := Config{NodeID: 1} // zero fields fall back to defaults; BindPort 0 stays 0
	if err := zero.Validate(); err != nil || zero.withDefaults().BindPort != 0 ||
		zero.withDefaults().LoadInterval != DefaultConfig().LoadInterval {
		t.Errorf("zero config: %v %+v", err, zero.withDefaults())
	}
	fast := Config{NodeID: 1, ProbeInterval: 100 * time.Millisecond}
	if got := fast.withDefaults().ProbeTimeout; got != 50*time.Millisecond {
		t.Errorf("ProbeTimeout not lowered: %v", got)
	}
	for name, mut := range map[string]func(*Config){
		"no id":         func(c *Config) { c.NodeID = 0 },
		"bind addr":     func(c *Config) { c.BindAddr = "localhost" },
		"port":          func(c *Config) { c.BindPort = 70000 },
		"meta too long": func(c *Config) { c.Meta.Addr = strings.Repeat("a", MaxStaticLen+1) },
		"key size":      func(c *Config) { c.SecretKeys = [][]byte{[]byte("short")} },
		"label":         func(c *Config) { c.Label = strings.Repeat("l", 256) },
		"probe timeout": func(c *Config) { c.ProbeTimeout = 2 * c.ProbeInterval },
		"suspicion":     func(c *Config) { c.SuspicionMult = -1 },
		"load interval": func(c *Config) { c.LoadInterval = -1 },
		"empty seed":    func(c *Config) { c.Seeds = []string{""} },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New err = %v", name, err)
		}
	}
}

func TestLogWriterFindsSuspicion(t *testing.T) {
	var got []string
	w := &logWriter{log: testLogger(t), onSuspect: func(n string) { got = append(got, n) }}
	l := w.logger()
	l.Printf("[INFO] memberlist: Suspect node-3 has failed, no acks received")
	l.Printf("[DEBUG] memberlist: Failed UDP ping: node-4 (timeout reached)")
	l.Printf("[INFO] memberlist: Marking node-3 as failed, suspect timeout reached (0 peer confirmations)")
	if len(got) != 1 || got[0] != "node-3" {
		t.Errorf("suspects %v", got)
	}
}
