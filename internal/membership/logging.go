package membership

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's log.Logger lines ("[LEVEL] memberlist:
// text") into slog records at debug level, keeping memberlist's level as
// an attribute. memberlist is chatty at WARN and ERR about conditions that
// are normal here (a peer that just died fails its TCP ping), so nothing is
// raised above debug.
//
// It also watches for the one line by which memberlist reveals that its
// own probe suspects a node ("Suspect <name> has failed, no acks
// received"): memberlist has no callback for suspicion, and the State of
// the Nodes it returns is never filled in. If a memberlist version changes
// the wording, EventSuspect stops appearing and EventFailed still does.
type logWriter struct {
	log       *slog.Logger
	onSuspect func(name string)
}

func (w *logWriter) logger() *log.Logger { return log.New(w, "", 0) }

const (
	suspectPrefix = "Suspect "
	suspectSuffix = " has failed, no acks received"
)

func (w *logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if level == "INFO" && w.onSuspect != nil {
		if rest, ok := strings.CutPrefix(line, suspectPrefix); ok {
			if name, ok := strings.CutSuffix(rest, suspectSuffix); ok {
				w.onSuspect(name)
			}
		}
	}
	if w.log.Enabled(context.Background(), slog.LevelDebug) {
		w.log.Debug(line, "source", "memberlist", "ml_level", level)
	}
	return len(p), nil
}
