package hub

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/camaudit/camaudit/geo"
	"github.com/camaudit/camaudit/hub/store"
	"github.com/camaudit/camaudit/hub/web"
	"github.com/camaudit/camaudit/wire"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser test's screenshots to docs/images/hub-*.png")

// seedCity writes a small campaign into a store: cameras along six streets,
// seen by one or two walks of three devices, with their coverage.
func seedCity(t *testing.T, db string) (cameras int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewSource(7))
	enu := geo.NewENU(origin)
	types := []string{"dome", "dome", "bullet", "bullet", "ptz", "alpr", "unknown"}
	mounts := []string{"wall", "pole", "wall", "street_lamp", "ceiling"}
	start := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	n := 0
	var msgs []store.Message
	for s := 0; s < 6; s++ {
		var line []geo.LatLon
		horizontal := s < 3
		walks := 1 + s%2
		ncams := 4 + rng.Intn(5)
		pos := make([][2]float64, ncams)
		ctype := make([]string, ncams)
		for i := range pos {
			along := -600 + rng.Float64()*1200
			across := float64(s%3)*350 - 350 + (rng.Float64()-0.5)*20
			if horizontal {
				pos[i] = [2]float64{along, across}
			} else {
				pos[i] = [2]float64{across, along}
			}
			ctype[i] = types[rng.Intn(len(types))]
		}
		across := float64(s%3)*350 - 350
		for a := -650.0; a <= 650; a += 50 {
			if horizontal {
				line = append(line, enu.FromLocal(a, across))
			} else {
				line = append(line, enu.FromLocal(across, a))
			}
		}
		cameras += ncams
		for w := 0; w < walks; w++ {
			dev := fmt.Sprintf("pi-%s", []string{"amber", "birch", "cedar"}[(s+w)%3])
			walk := fmt.Sprintf("0193a1b2-0000-7000-8000-%012x", s*10+w)
			t0 := start.Add(time.Duration(s*24+w*48) * time.Hour)
			for i, p := range pos {
				n++
				ll := enu.FromLocal(p[0]+rng.NormFloat64()*2, p[1]+rng.NormFloat64()*2)
				dir := float64(rng.Intn(360))
				msgs = append(msgs, store.Message{Device: dev, Payload: &wire.Sighting{Schema: wire.SchemaSighting,
					ID: fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", n), Device: dev, Walk: walk, Time: t0.Add(time.Duration(i) * time.Minute),
					Lat: ll.Lat, Lon: ll.Lon, ErrM: 2 + rng.Float64()*3, Type: ctype[i], Mount: mounts[rng.Intn(len(mounts))],
					Direction: &dir, Confidence: 0.6 + rng.Float64()*0.4, Frames: 10, BaselineM: 8, Model: "camaudit-cams-v1"}})
			}
			msgs = append(msgs, store.Message{Device: dev, Payload: &wire.Coverage{Schema: wire.SchemaCoverage, Device: dev, Walk: walk,
				Cells: geo.CellsAlong(line, geo.CellRes), WalkedM: geo.PathLength(line), From: t0, To: t0.Add(time.Hour)}})
		}
	}
	if _, err := st.Write(ctx, msgs, map[wire.Reason]int{wire.ReasonJSON: 3, wire.ReasonOversize: 1}, start); err != nil {
		t.Fatal(err)
	}
	return cameras
}

func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("chromium is not installed: run `make setup`")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first action starts the browser, which lives as long as the context
	// of that call: start it on the test's context, limit later steps.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx, func() { cancelCtx(); cancelAlloc() }
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil || img.Bounds().Dx() < 300 {
		t.Fatalf("screenshot %s is not a usable PNG: %v", name, err)
	}
	dir := t.TempDir()
	if *updateScreenshots {
		dir = filepath.Join("..", "docs", "images")
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " state=" + document.body.dataset.state + " " + (document.body.dataset.error || "")`))
		t.Fatalf("%s: %v (page: %s)", what, err, state)
	}
}

// TestMapInHeadlessChromium loads the map from a running hub whose tile
// server is unreachable, and finds the camera markers, the counts panel, the
// coverage, a measured route and the review page working.
func TestMapInHeadlessChromium(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hub.db")
	want := seedCity(t, db)
	const token = "0123456789abcdef-review"
	h := startHub(t, Config{DB: db, Token: token, Web: web.Config{Tiles: "http://127.0.0.1:9/{z}/{x}/{y}.png", Attribution: "no tiles in tests"}})
	cams := h.hub.Registry().Cameras(registryAll())
	if len(cams) < want-2 || len(cams) > want {
		t.Fatalf("registry holds %d cameras from %d seeded", len(cams), want)
	}
	ctx, cancel := browser(t)
	defer cancel()

	do(t, ctx, "loading the map", chromedp.Navigate(h.url+"/"), chromedp.WaitVisible(chromedp.CSS(`body[data-state=ready]`)))
	markers := eval[int](t, ctx, `document.querySelectorAll('path.camera-marker').length`)
	coverageCells := eval[int](t, ctx, `document.querySelectorAll('path.coverage-cell').length`)
	count := eval[string](t, ctx, `document.querySelector('#count-cameras').textContent`)
	types := eval[string](t, ctx, `document.querySelector('#count-types').textContent`)
	if markers != len(cams) || count != fmt.Sprint(len(cams)) {
		t.Errorf("map shows %d markers and counts %q; the registry has %d cameras", markers, count, len(cams))
	}
	if coverageCells == 0 || !strings.Contains(types, "dome") {
		t.Errorf("coverage cells %d, types panel %q", coverageCells, types)
	}

	// Draw a route across the map with three clicks and measure it.
	do(t, ctx, "measuring a route",
		chromedp.Click(chromedp.CSS(`#route-draw`)),
		chromedp.MouseClickXY(420, 420),
		chromedp.MouseClickXY(800, 430),
		chromedp.MouseClickXY(1200, 440),
		chromedp.Click(chromedp.CSS(`#route-draw`)),
		chromedp.Click(chromedp.CSS(`#route-measure`)),
		chromedp.WaitVisible(chromedp.CSS(`#exposure-result[data-share]`)),
	)
	result := eval[string](t, ctx, `document.querySelector('#exposure-result').textContent`)
	share := eval[string](t, ctx, `document.querySelector('#exposure-result').dataset.share`)
	if !strings.Contains(result, "% exposed") || share == "" {
		t.Errorf("exposure result %q (share %q)", result, share)
	}
	screenshot(t, ctx, "hub-map.png")

	// A phone: the counts stay readable in the bottom sheet.
	do(t, ctx, "phone view",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(h.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state=ready]`)),
	)
	countsTop := eval[float64](t, ctx, `document.querySelector('#counts').getBoundingClientRect().top`)
	countsHeight := eval[float64](t, ctx, `document.querySelector('#counts').getBoundingClientRect().height`)
	markers = eval[int](t, ctx, `document.querySelectorAll('path.camera-marker').length`)
	if countsTop < 300 || countsTop > 844-60 || countsHeight < 60 || markers == 0 {
		t.Errorf("phone view: counts panel at y=%.0f (h=%.0f), %d markers; want a bottom sheet below the map", countsTop, countsHeight, markers)
	}
	screenshot(t, ctx, "hub-map-phone.png")

	// The review page: a wrong token is refused, then reject a camera.
	do(t, ctx, "review page login",
		chromedp.EmulateReset(),
		chromedp.Navigate(h.url+"/review.html"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state=locked]`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), "wrong-token"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state=denied]`)),
	)
	if loginErr := eval[string](t, ctx, `document.querySelector('#login-error').textContent`); !strings.Contains(loginErr, "token") {
		t.Errorf("wrong token: login error %q", loginErr)
	}
	do(t, ctx, "review page",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#token").value = ""; null`),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-items]`)),
		chromedp.Click(chromedp.CSS(`#items li:first-child .decide-reject`)),
		chromedp.WaitVisible(chromedp.CSS(`#items li:first-child[data-status=rejected]`)),
	)
	items := eval[string](t, ctx, `document.body.dataset.items`)
	status := eval[string](t, ctx, `document.querySelector('#items li:first-child .status').textContent`)
	if items == "0" || !strings.Contains(status, "rejected") {
		t.Errorf("review: %s items, status %q", items, status)
	}
	if n := len(h.hub.Registry().Cameras(registryAll())); n != len(cams)-1 {
		t.Errorf("after rejecting one camera the registry shows %d, want %d", n, len(cams)-1)
	}
}
