// Package grafana imports the dashboards into a running Grafana through its
// HTTP API. The client library (github.com/grafana-tools/sdk) is
// unmaintained, so it sits behind the small API interface: swapping it
// touches one file.
package grafana

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/meshbundle/meshbundle/dashboards"
)

// API is the part of Grafana's HTTP API an import needs.
type API interface {
	// FindFolder returns the ID of the folder with this title.
	FindFolder(ctx context.Context, title string) (id int, found bool, err error)
	// CreateFolder creates a folder and returns its ID.
	CreateFolder(ctx context.Context, title string) (id int, err error)
	// DashboardUIDs lists the UIDs of dashboards carrying the tag.
	DashboardUIDs(ctx context.Context, tag string) (map[string]bool, error)
	// SaveDashboard creates or replaces (overwrite) a dashboard in a folder.
	SaveDashboard(ctx context.Context, dashboardJSON []byte, folderID int, overwrite bool) error
}

// Options control an import.
type Options struct {
	// Folder is the Grafana folder title; created when missing. Empty means
	// Grafana's General folder.
	Folder string
	// Overwrite replaces dashboards that exist (same UID). Without it,
	// existing dashboards are left alone: either way a re-run converges.
	Overwrite bool
	// Progress receives one line per dashboard; nil discards.
	Progress io.Writer
}

// Action is what happened to one dashboard.
type Action string

const (
	Created Action = "created"
	Updated Action = "updated"
	Skipped Action = "skipped (exists; use --overwrite to replace)"
)

// Result reports one dashboard.
type Result struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Action Action `json:"action"`
}

// tag marks the dashboards meshbundle owns, so one search finds them all.
const tag = "meshbundle"

// Import saves every dashboard into Grafana. It stops at the first error and
// returns the results so far.
func Import(ctx context.Context, api API, specs []dashboards.Spec, o Options) ([]Result, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	folderID := 0 // General
	if o.Folder != "" {
		id, found, err := api.FindFolder(ctx, o.Folder)
		if err != nil {
			return nil, fmt.Errorf("grafana folder %q: %w", o.Folder, err)
		}
		if !found {
			if id, err = api.CreateFolder(ctx, o.Folder); err != nil {
				return nil, fmt.Errorf("create grafana folder %q: %w", o.Folder, err)
			}
			fmt.Fprintf(progress, "folder %q created\n", o.Folder)
		}
		folderID = id
	}
	existing, err := api.DashboardUIDs(ctx, tag)
	if err != nil {
		return nil, fmt.Errorf("list grafana dashboards tagged %q: %w", tag, err)
	}
	var results []Result
	for _, s := range specs {
		r := Result{Title: s.Title, UID: s.UID(), Action: Created}
		if existing[r.UID] {
			r.Action = Updated
			if !o.Overwrite {
				r.Action = Skipped
			}
		}
		if r.Action != Skipped {
			b, err := s.JSON()
			if err != nil {
				return results, err
			}
			if err := api.SaveDashboard(ctx, b, folderID, o.Overwrite); err != nil {
				return results, fmt.Errorf("save dashboard %q (uid %s): %w", s.Title, r.UID, err)
			}
		}
		fmt.Fprintf(progress, "dashboard %q %s\n", s.Title, r.Action)
		results = append(results, r)
	}
	return results, nil
}

// NewAPI connects to Grafana at baseURL with a service account token (sent
// as `Authorization: Bearer`) or "user:password" (basic auth).
func NewAPI(baseURL, token string, client *http.Client) (API, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("--grafana-url %q: want an absolute URL such as http://grafana.monitoring:3000", baseURL)
	}
	if token == "" {
		return nil, errors.New("--token: empty; create a Grafana service account token with the Editor role and pass it (or set GRAFANA_TOKEN)")
	}
	if client == nil {
		client = http.DefaultClient
	}
	return newSDKClient(u.String(), token, client)
}
