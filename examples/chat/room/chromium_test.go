package room

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/browsertest"
)

const readMessages = `[...document.querySelectorAll('#messages li')].map(li => li.textContent)`

// Two browsers in one room (headless Chromium): each sees the other's
// messages and its own, once and in the same order, live, without a
// reload, before and after the crash of the clone the room's stream came
// from.
func TestChatInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster and a browser (-short)")
	}
	exe := browsertest.Find()
	if exe == "" {
		t.Skip(browsertest.SkipReason)
	}
	ch := newChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(900, 800))...)
	defer acancel()
	ann, cancelAnn := chromedp.NewContext(actx)
	defer cancelAnn()
	bob, cancelBob := chromedp.NewContext(ann) // a second tab of the same browser
	defer cancelBob()
	for user, tab := range map[string]context.Context{"ann": ann, "bob": bob} {
		if err := chromedp.Do(tab, chromedp.Navigate(ch.srv.URL+"/chat/?room=lobby&user="+user)); err != nil {
			t.Fatalf("%s's page: %v", user, err)
		}
		if err := chromedp.Do(tab, chromedp.WaitVisible("#status.live")); err != nil {
			t.Fatalf("%s's page never went live: %v", user, err)
		}
	}
	say := func(tab context.Context, text string) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.SetValue("#text", text)); err != nil {
			t.Fatalf("typing %q: %v", text, err)
		}
		if err := chromedp.Do(tab, chromedp.Click("#send")); err != nil {
			t.Fatalf("sending %q: %v", text, err)
		}
	}
	// wait polls both pages until they show want.
	wait := func(want []string) {
		t.Helper()
		var got [2][]string
		for {
			for i, tab := range []context.Context{ann, bob} {
				var err error
				if got[i], err = chromedp.Run(tab, chromedp.Evaluate[[]string](readMessages)); err != nil {
					t.Fatalf("reading the page: %v", err)
				}
			}
			if slices.Equal(got[0], want) && slices.Equal(got[1], want) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("pages show\n ann %q\n bob %q\nwant %q", got[0], got[1], want)
			case <-time.After(100 * time.Millisecond): // polling the pages, within ctx's deadline
			}
		}
	}
	var want []string
	for i := range 3 {
		say(ann, fmt.Sprint("hello ", i))
		want = append(want, fmt.Sprint("ann: hello ", i))
		wait(want) // each message shows before the next is sent: one order to expect
		say(bob, fmt.Sprint("hi ", i))
		want = append(want, fmt.Sprint("bob: hi ", i))
		wait(want)
	}
	lobby, _ := ch.s.c.Map().Locate(ServiceName, []byte("lobby"))
	attached := groupcomm.NodeID(ch.s.hub.Clone(ServiceName, lobby.ID))
	ch.c.Kill(attached)
	t.Logf("crashed node %d, the clone the room's stream came from", attached)
	for i := 3; i < 5; i++ {
		say(bob, fmt.Sprint("still here ", i))
		want = append(want, fmt.Sprint("bob: still here ", i))
		wait(want)
		say(ann, fmt.Sprint("me too ", i))
		want = append(want, fmt.Sprint("ann: me too ", i))
		wait(want)
	}
	shot, err := chromedp.Run(ann, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", browsertest.Artifact(t, "chat-after-crash.png", shot))
}
