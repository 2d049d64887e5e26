package grafana

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/meshbundle/meshbundle/dashboards"
)

// standIn is a stand-in for Grafana's HTTP API (folders, search, dashboards/db
// as documented on grafana.com/docs/grafana/latest/developers/http_api). No
// Grafana server can run on the test machine (no containers, and Grafana is
// AGPL, so we do not build it into a test binary); the stand-in checks the
// request shape the documentation specifies and keeps state like Grafana, so
// idempotency is observable.
type standIn struct {
	t      *testing.T
	token  string
	mu     sync.Mutex
	nextID int
	// folders by title -> id
	folders map[string]int
	// dashboards by uid -> (folder id, version, tags)
	dashboards map[string]savedDashboard
	// calls counts requests by "METHOD path"
	calls map[string]int
}

type savedDashboard struct {
	folderID int
	version  int
	title    string
}

func newStandIn(t *testing.T, token string) (*standIn, *httptest.Server) {
	g := &standIn{t: t, token: token, nextID: 1, folders: map[string]int{}, dashboards: map[string]savedDashboard{}, calls: map[string]int{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[r.Method+" "+r.URL.Path]++
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "invalid API key"})
		return
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		g.t.Errorf("%s %s: Content-Type %q, Grafana wants application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/folders":
		var out []map[string]any
		for title, id := range g.folders {
			out = append(out, map[string]any{"id": id, "uid": "f" + title, "title": title})
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPost && r.URL.Path == "/api/folders":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["title"] == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "bad folder"})
			return
		}
		title := body["title"].(string)
		if _, ok := g.folders[title]; ok {
			writeJSON(w, http.StatusConflict, map[string]any{"message": "a folder with the same name already exists"})
			return
		}
		g.nextID++
		g.folders[title] = g.nextID
		writeJSON(w, http.StatusOK, map[string]any{"id": g.nextID, "uid": "f" + title, "title": title})
	case r.Method == http.MethodGet && r.URL.Path == "/api/search":
		if r.URL.Query().Get("type") != "dash-db" {
			g.t.Errorf("search type %q, want dash-db", r.URL.Query().Get("type"))
		}
		var out []map[string]any
		for uid, d := range g.dashboards {
			out = append(out, map[string]any{"uid": uid, "title": d.title, "type": "dash-db", "tags": []string{r.URL.Query().Get("tag")}})
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPost && r.URL.Path == "/api/dashboards/db":
		var body struct {
			Dashboard map[string]any `json:"dashboard"`
			FolderID  *int           `json:"folderId"`
			Overwrite *bool          `json:"overwrite"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": err.Error()})
			return
		}
		if body.FolderID == nil || body.Overwrite == nil || body.Dashboard == nil {
			g.t.Errorf("POST /api/dashboards/db body lacks dashboard, folderId or overwrite")
		}
		// The docs say id null creates; Grafana reads a missing, null or 0
		// id the same way (its model's int64 zero value). Any other id would
		// address another instance's dashboard.
		if id, ok := body.Dashboard["id"]; ok && id != nil && id != float64(0) {
			g.t.Errorf("dashboard %v sent with id %v: importing by uid needs id null or 0", body.Dashboard["uid"], id)
		}
		uid, _ := body.Dashboard["uid"].(string)
		title, _ := body.Dashboard["title"].(string)
		if uid == "" || title == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Dashboard title/uid cannot be empty"})
			return
		}
		old, exists := g.dashboards[uid]
		if exists && !*body.Overwrite {
			writeJSON(w, http.StatusPreconditionFailed, map[string]any{"message": "A dashboard with the same uid already exists", "status": "name-exists"})
			return
		}
		g.dashboards[uid] = savedDashboard{folderID: *body.FolderID, version: old.version + 1, title: title}
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "uid": uid, "status": "success", "version": old.version + 1, "slug": "x", "url": "/d/" + uid})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func TestImport(t *testing.T) {
	g, srv := newStandIn(t, "glsa_test")
	api, err := NewAPI(srv.URL, "glsa_test", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	specs := dashboards.All()
	steps := []struct {
		name      string // what the step shows
		overwrite bool   // --overwrite
		want      Action // the action every dashboard must report
		version   int    // the version Grafana holds afterwards
	}{
		{name: "first import creates folder and dashboards", overwrite: false, want: Created, version: 1},
		{name: "re-run without overwrite changes nothing", overwrite: false, want: Skipped, version: 1},
		{name: "re-run with overwrite replaces in place", overwrite: true, want: Updated, version: 2},
	}
	for _, st := range steps {
		res, err := Import(ctx, api, specs, Options{Folder: "Istio", Overwrite: st.overwrite})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(res) != len(specs) {
			t.Fatalf("%s: %d results", st.name, len(res))
		}
		for _, r := range res {
			d := g.dashboards[r.UID]
			if r.Action != st.want || d.version != st.version || d.folderID != g.folders["Istio"] || d.title != r.Title {
				t.Errorf("%s: %s -> %s, stored %+v; want %s version %d in folder %d", st.name, r.Title, r.Action, d, st.want, st.version, g.folders["Istio"])
			}
		}
	}
	if n := g.calls["POST /api/folders"]; n != 1 || len(g.folders) != 1 {
		t.Errorf("folder created %d times, %d folders: want once", n, len(g.folders))
	}
	if len(g.dashboards) != len(specs) {
		t.Errorf("%d dashboards stored, want %d", len(g.dashboards), len(specs))
	}
}

func TestImportErrors(t *testing.T) {
	_, srv := newStandIn(t, "right")
	tests := []struct {
		name    string // case
		url     string // --grafana-url
		token   string // --token
		wantErr string // part of the error
	}{
		{name: "wrong token", url: srv.URL, token: "wrong", wantErr: "401"},
		{name: "empty token", url: srv.URL, token: "", wantErr: "--token: empty"},
		{name: "relative url", url: "grafana:3000", token: "x", wantErr: "--grafana-url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api, err := NewAPI(tc.url, tc.token, srv.Client())
			if err == nil {
				_, err = Import(context.Background(), api, dashboards.All(), Options{Folder: "Istio"})
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
