package zimfake

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
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
	mux.HandleFunc("GET "+AdminPrefix+"receipts", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, r := range s.DistinctReceipts() {
			if enc.Encode(r) != nil {
				return // the client went away
			}
		}
		_ = bw.Flush()
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

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "zimfake: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
