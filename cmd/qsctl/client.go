package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client calls the admin API and renders its answers.
type client struct {
	base, token string
	timeout     time.Duration
	json        bool
	w           io.Writer
}

// apiError is the API's error shape.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// call does one request and returns the raw JSON answer.
func (c *client) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
		}
		e.Error.Status = resp.StatusCode
		return nil, &e.Error
	}
	return b, nil
}

// get calls and decodes into v, or prints the JSON when -o json.
func (c *client) show(ctx context.Context, method, path string, body, v any, table func()) error {
	b, err := c.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if c.json {
		var pretty bytes.Buffer
		if json.Indent(&pretty, b, "", "  ") != nil {
			pretty.Write(b)
		}
		fmt.Fprintln(c.w, strings.TrimSpace(pretty.String()))
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", path, err)
	}
	table()
	return nil
}

func (c *client) command(ctx context.Context, name string, args []string) error {
	switch name {
	case "members":
		return c.members(ctx, args)
	case "map":
		return c.partitionMap(ctx, args)
	case "history":
		return c.history(ctx, args)
	case "moves":
		return c.moves(ctx, args)
	case "watch":
		return c.watch(ctx, args)
	case "trace":
		return c.trace(ctx, args)
	case "drain":
		if len(args) != 1 {
			return usageError("drain NODE")
		}
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil || n == 0 {
			return usageError(fmt.Sprintf("drain: node %q is not a node id", args[0]))
		}
		return c.change(ctx, "/v1/admin/drain", map[string]any{"node": n})
	case "move":
		if len(args) != 4 {
			return usageError("move SERVICE PARTITION FROM TO")
		}
		nums, err := parseUints(args[1:], "partition", "from", "to")
		if err != nil {
			return err
		}
		return c.change(ctx, "/v1/admin/move", map[string]any{"service": args[0], "partition": nums[0], "from": nums[1], "to": nums[2]})
	case "clones":
		if len(args) != 2 {
			return usageError("clones SERVICE N")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return usageError(fmt.Sprintf("clones: %q is not a number", args[1]))
		}
		return c.change(ctx, "/v1/admin/clones", map[string]any{"service": args[0], "clones": n})
	}
	return usageError(fmt.Sprintf("unknown command %q (members, map, history, moves, watch, trace, drain, move, clones)", name))
}

func parseUints(args []string, names ...string) ([]uint64, error) {
	out := make([]uint64, len(args))
	for i, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, usageError(fmt.Sprintf("%s %q is not a number", names[i], a))
		}
		out[i] = n
	}
	return out, nil
}

// change posts an admin change and reports the map epoch it produced.
func (c *client) change(ctx context.Context, path string, body any) error {
	var res struct {
		OK    bool   `json:"ok"`
		Epoch uint64 `json:"epoch"`
	}
	return c.show(ctx, http.MethodPost, path, body, &res, func() {
		fmt.Fprintf(c.w, "ok: map epoch %d\n", res.Epoch)
	})
}

// subFlags parses a command's own flags.
func subFlags(name string, args []string, def func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def(fs)
	if err := fs.Parse(args); err != nil {
		return usageError(fmt.Sprintf("%s: %v", name, err))
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0)))
	}
	return nil
}

func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
