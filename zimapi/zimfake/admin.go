package zimfake

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// AdminPrefix is the path under which [Server.Handler] serves the admin API.
const AdminPrefix = "/_zimfake/"

// Handler serves the ZIM API on "/" and the admin API under [AdminPrefix].
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(AdminPrefix, s.AdminHandler())
	mux.Handle("/", s)
	return mux
}

// AdminHandler serves the admin API (see the package documentation) for
// tests that run the simulator in another process. Paths are matched with
// the [AdminPrefix] prefix.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminPrefix+"stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Stats())
	})
	mux.HandleFunc("GET "+AdminPrefix+"receipts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		if each, _ := strconv.ParseBool(r.URL.Query().Get("each")); each {
			writeAll(bw, enc, s.Receipts())
			return
		}
		writeAll(bw, enc, s.DistinctReceipts())
	})
	mux.HandleFunc("POST "+AdminPrefix+"group-limit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		group, rpsText := q.Get("group"), q.Get("rps")
		d, err := optionalDuration(q.Get("for"))
		rps := -1.0
		if rpsText != "off" {
			var perr error
			rps, perr = strconv.ParseFloat(rpsText, 64)
			if perr != nil || !(rps >= 0 && rps <= 1e9) {
				err = errors.Join(err, errors.New("rps must be a number of requests per second >= 0, or off"))
			}
		}
		if group == "" || err != nil {
			http.Error(w, "zimfake: want group=ID&rps=N|off[&for=DURATION]: "+fmt.Sprint(err), http.StatusBadRequest)
			return
		}
		s.SetGroupLimit(group, rps, d)
		writeJSON(w, map[string]any{"group": group, "rps": rpsText, "for": d.String()})
	})
	mux.HandleFunc("POST "+AdminPrefix+"busy", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		group, forText := q.Get("group"), q.Get("for")
		d := time.Duration(-1)
		var err error
		if forText != "off" {
			d, err = optionalDuration(forText)
		}
		if group == "" || err != nil {
			http.Error(w, "zimfake: want group=ID[&for=DURATION|off]: "+fmt.Sprint(err), http.StatusBadRequest)
			return
		}
		s.SetBusy(group, d)
		writeJSON(w, map[string]any{"group": group, "for": forText})
	})
	mux.HandleFunc("POST "+AdminPrefix+"outage", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			http.Error(w, "zimfake: on must be true or false", http.StatusBadRequest)
			return
		}
		s.SetOutage(on)
		writeJSON(w, map[string]bool{"outage": on})
	})
	mux.HandleFunc("POST "+AdminPrefix+"rps", func(w http.ResponseWriter, r *http.Request) {
		v, err := strconv.ParseFloat(r.URL.Query().Get("value"), 64)
		if err != nil || !(v >= 0 && v <= 1e9) {
			http.Error(w, "zimfake: value must be a number of requests per second >= 0 (0 = unlimited)", http.StatusBadRequest)
			return
		}
		s.SetRPS(v)
		writeJSON(w, map[string]float64{"rps": v})
	})
	mux.HandleFunc("POST "+AdminPrefix+"reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, map[string]bool{"reset": true})
	})
	return mux
}

// writeAll writes items as JSON lines until the client goes away.
func writeAll[T any](bw *bufio.Writer, enc *json.Encoder, items []T) {
	for _, it := range items {
		if enc.Encode(it) != nil {
			return // the client went away
		}
	}
	_ = bw.Flush()
}

// optionalDuration parses a duration that may be absent (zero).
func optionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("for=%q is not a duration >= 0", s)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "zimfake: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
