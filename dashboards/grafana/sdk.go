package grafana

import (
	"context"
	"fmt"
	"net/http"

	grafanasdk "github.com/grafana-tools/sdk"
)

// sdkClient implements API with github.com/grafana-tools/sdk.
type sdkClient struct{ c *grafanasdk.Client }

func newSDKClient(baseURL, token string, client *http.Client) (*sdkClient, error) {
	c, err := grafanasdk.NewClient(baseURL, token, client)
	if err != nil {
		return nil, fmt.Errorf("grafana client for %s: %w", baseURL, err)
	}
	return &sdkClient{c: c}, nil
}

func (s *sdkClient) FindFolder(ctx context.Context, title string) (int, bool, error) {
	folders, err := s.c.GetAllFolders(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, f := range folders {
		if f.Title == title {
			return f.ID, true, nil
		}
	}
	return 0, false, nil
}

func (s *sdkClient) CreateFolder(ctx context.Context, title string) (int, error) {
	f, err := s.c.CreateFolder(ctx, grafanasdk.Folder{Title: title})
	if err != nil {
		return 0, err
	}
	return f.ID, nil
}

func (s *sdkClient) DashboardUIDs(ctx context.Context, tag string) (map[string]bool, error) {
	found, err := s.c.Search(ctx, grafanasdk.SearchType(grafanasdk.SearchTypeDashboard), grafanasdk.SearchTag(tag))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, b := range found {
		out[b.UID] = true
	}
	return out, nil
}

func (s *sdkClient) SaveDashboard(ctx context.Context, raw []byte, folderID int, overwrite bool) error {
	_, err := s.c.SetRawDashboardWithParam(ctx, grafanasdk.RawBoardRequest{
		Dashboard:  raw,
		Parameters: grafanasdk.SetDashboardParams{FolderID: folderID, Overwrite: overwrite},
	})
	return err
}
