package lease

import (
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Unlock works on Helm's own release storage (the in-memory driver Helm
// ships; the e2e test covers the Secret driver on a real API server).
func TestUnlock(t *testing.T) {
	held := &Lease{} // what Acquire returns; Unlock only needs one
	cases := []struct {
		name         string           // test name
		history      []release.Status // statuses of revisions 1..n (empty: no release)
		wantUnlocked bool             // unlock reports it changed the record
		wantStatus   release.Status   // status of the newest record afterwards
	}{
		{name: "no release", history: nil},
		{name: "deployed is left alone", history: []release.Status{release.StatusDeployed}, wantStatus: release.StatusDeployed},
		{name: "killed first install", history: []release.Status{release.StatusPendingInstall}, wantUnlocked: true, wantStatus: release.StatusFailed},
		{name: "killed upgrade", history: []release.Status{release.StatusDeployed, release.StatusPendingUpgrade}, wantUnlocked: true, wantStatus: release.StatusFailed},
		{name: "killed rollback", history: []release.Status{release.StatusSuperseded, release.StatusPendingRollback}, wantUnlocked: true, wantStatus: release.StatusFailed},
		{name: "failed stays failed", history: []release.Status{release.StatusFailed}, wantStatus: release.StatusFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &action.Configuration{Releases: storage.Init(driver.NewMemory())}
			for i, st := range tc.history {
				rel := &release.Release{Name: "istiod", Namespace: "istio-system", Version: i + 1, Info: &release.Info{Status: st}}
				if err := cfg.Releases.Create(rel); err != nil {
					t.Fatal(err)
				}
			}
			unlocked, last, err := held.Unlock(cfg, "istiod")
			if err != nil {
				t.Fatal(err)
			}
			if unlocked != tc.wantUnlocked {
				t.Errorf("unlocked = %v, want %v", unlocked, tc.wantUnlocked)
			}
			if tc.history == nil {
				if last != nil {
					t.Errorf("last = %v, want nil", last)
				}
				return
			}
			stored, err := cfg.Releases.Last("istiod")
			if err != nil {
				t.Fatal(err)
			}
			if stored.Info.Status != tc.wantStatus || last.Info.Status != tc.wantStatus {
				t.Errorf("status stored %s, returned %s, want %s", stored.Info.Status, last.Info.Status, tc.wantStatus)
			}
			if again, _, _ := held.Unlock(cfg, "istiod"); again {
				t.Error("second unlock changed the record again")
			}
		})
	}
}

// Without a lease nothing is unlocked: the pending release could be a live
// operation of another run.
func TestUnlockNeedsTheLease(t *testing.T) {
	cfg := &action.Configuration{Releases: storage.Init(driver.NewMemory())}
	rel := &release.Release{Name: "web", Namespace: "shop", Version: 1, Info: &release.Info{Status: release.StatusPendingUpgrade}}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
	var none *Lease
	if _, _, err := none.Unlock(cfg, "web"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Unlock without a lease: %v, want ErrNotHeld", err)
	}
	if last, _ := cfg.Releases.Last("web"); last.Info.Status != release.StatusPendingUpgrade {
		t.Errorf("status %s after a refused unlock, want pending-upgrade", last.Info.Status)
	}
}
