package shop

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quicksilver-go/quicksilver/racs"
)

//go:embed page.html
var pageFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"price": func(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) },
}).ParseFS(pageFS, "page.html"))

// pageRange is one catalog range on the page: its first products, or why
// it is missing.
type pageRange struct {
	Label    string
	Products []Product
	Err      string
}

type pageData struct {
	Ranges  []pageRange
	Query   string
	Search  *SearchResult
	User    string
	Cart    *Cart
	OrderID string // a fresh id for the checkout form: resubmitting it retries the same order
	AddID   string // a fresh key for the add forms: a resubmitted add adds once
	Msg     string
	Err     string
}

// page renders the shop. Every link and form is relative ("./", "?q="),
// so it works wherever it is mounted, as long as the page's URL ends with
// the mount point's slash ("/shop/").
func (s *server) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxOf(r)
	defer cancel()
	q := r.URL.Query()
	d := pageData{Query: q.Get("q"), User: q.Get("user"), Msg: q.Get("msg"), Err: q.Get("err"), OrderID: newOrderID(), AddID: newOrderID()}
	if parts, err := scatter(ctx, s.c, catalogOp{Op: "list", Limit: 4}, racs.Any); err != nil {
		d.Err = join(d.Err, err.Error())
	} else {
		for _, p := range parts {
			pr := pageRange{Label: p.label, Products: p.res.Products}
			if p.err != nil {
				pr.Err = "unavailable: " + p.err.Error()
			}
			d.Ranges = append(d.Ranges, pr)
		}
	}
	if d.Query != "" {
		if res, err := Search(ctx, s.c, d.Query, 20); err != nil {
			d.Err = join(d.Err, err.Error())
		} else {
			d.Search = &res
		}
	}
	if d.User != "" {
		if c, err := GetCart(ctx, s.c, d.User, racs.Strict); err != nil {
			d.Err = join(d.Err, err.Error())
		} else {
			d.Cart = &c
		}
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		http.Error(w, "shop: page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// pageForm runs the page's forms and sends the browser back to the page
// (303, a relative Location: http.Redirect would resolve it against the
// path StripPrefix left, not the one the browser asked for).
func (s *server) pageForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	back := url.Values{}
	if err := r.ParseForm(); err != nil {
		back.Set("err", "bad form: "+err.Error())
		seeOther(w, back)
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	user := r.PostForm.Get("user")
	back.Set("user", user)
	if q := r.PostForm.Get("q"); q != "" {
		back.Set("q", q)
	}
	msg, err := s.formAction(ctx, r, user)
	if err != nil {
		back.Set("err", err.Error())
	} else {
		back.Set("msg", msg)
	}
	seeOther(w, back)
}

func (s *server) formAction(ctx context.Context, r *http.Request, user string) (string, error) {
	name := r.PostForm.Get("name")
	switch r.PostForm.Get("action") {
	case "add":
		qty, err := strconv.ParseInt(r.PostForm.Get("qty"), 10, 64)
		if err != nil {
			qty = 1
		}
		if _, err := AddToCart(ctx, s.c, user, name, qty, r.PostForm.Get("add_id")); err != nil {
			return "", err
		}
		return "added " + name, nil
	case "remove":
		_, err := RemoveFromCart(ctx, s.c, user, name)
		return "removed " + name, err
	case "checkout":
		o, err := Checkout(ctx, s.c, user, r.PostForm.Get("order_id"))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("order %s placed: %d lines, $%d.%02d", o.ID, len(o.Lines), o.TotalCents/100, o.TotalCents%100), nil
	}
	return "", fmt.Errorf("%w: unknown action", ErrBadInput)
}

func seeOther(w http.ResponseWriter, v url.Values) {
	w.Header().Set("Location", "./?"+v.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

func newOrderID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return "o-" + hex.EncodeToString(b[:])
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
