package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"gocv.io/x/gocv"
)

// DatasetOptions configure GenerateDataset.
type DatasetOptions struct {
	N           int          // number of images
	Seed        int64        // same seed, same files
	Width       int          // image size (default 640×640)
	Height      int          //
	ValFrac     float64      // share of images in the validation split (default 0.1)
	NegFrac     float64      // share of images without cameras (default 0.3)
	Backgrounds *Backgrounds // optional street photos
	Models      *ModelSet    // optional extra camera meshes (OBJ)
	Workers     int          // rendering goroutines (0 = one per CPU); output does not depend on it
	Progress    io.Writer    // progress lines (nil = none)
}

// DatasetSummary is written to dataset.json and returned by GenerateDataset.
type DatasetSummary struct {
	Seed      int64          `json:"seed"`
	Images    int            `json:"images"`
	Train     int            `json:"train"`
	Val       int            `json:"val"`
	Negatives int            `json:"negatives"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Objects   map[string]int `json:"objects"`         // labelled cameras per class
	BySize    map[string]int `json:"objects_by_size"` // longest box side: <16, 16-32, >32 px
	Distract  int            `json:"distractors"`
	BgPhotos  []string       `json:"background_photos,omitempty"`
}

// Label is one YOLO box: class and normalised centre and size.
type Label struct {
	Class   int
	Cx, Cy  float64
	W, H    float64
	Box     image.Rectangle // pixels
	Visible float64
}

// datasetKit is what every worker shares read-only: textures and photos.
type datasetKit struct {
	opt   DatasetOptions
	bank  []*Facade // textured facade templates (textures shared)
	close func()
}

func newDatasetKit(opt DatasetOptions) *datasetKit {
	k := &datasetKit{opt: opt}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0xba4c))
	styles := []string{"brick", "plaster", "shop", "glass", "concrete", "brick", "plaster", "shop"}
	n := 40
	for i := 0; i < n; i++ {
		lit := 0.0
		if i%5 == 4 {
			lit = 0.3
		}
		w := 10 + 10*rng.Float64()
		h := 10 + 10*rng.Float64()
		var tex gocv.Mat
		if opt.Backgrounds.Len() > 0 && i%4 == 3 {
			tex = opt.Backgrounds.crop(rng, int(w*32), int(h*32))
		} else {
			tex = facadeTexture(rng, styles[i%len(styles)], w, h, 32, lit)
		}
		f := &Facade{W: w, H: h, street: -1}
		f.setTexture(tex, 32, 1)
		k.bank = append(k.bank, f)
	}
	k.close = func() {
		for _, f := range k.bank {
			for i := range f.tex {
				f.tex[i].Close()
			}
		}
	}
	return k
}

// sample is one rendered dataset image.
type sample struct {
	labels   []Label
	val      bool
	negative bool
	distract int
}

// sizeTarget draws the intended longest side of an object in pixels: most
// are small (8-32 px), as surveillance cameras are in street imagery.
func sizeTarget(rng *rand.Rand) float64 {
	logu := func(a, b float64) float64 { return math.Exp(math.Log(a) + (math.Log(b)-math.Log(a))*rng.Float64()) }
	// the projected box comes out ~1.3× the target on average (oblique
	// views, pixel rounding), hence the ranges below
	switch p := rng.Float64(); {
	case p < 0.62:
		return logu(6, 24)
	case p < 0.9:
		return logu(24, 75)
	default:
		return logu(75, 160)
	}
}

// randomLight returns random daylight, overcast or dusk lighting.
func randomLight(rng *rand.Rand) Light {
	kinds := []string{"sun", "sun", "sun", "overcast", "overcast", "dusk"}
	k := kinds[rng.IntN(len(kinds))]
	el := 10 + 55*rng.Float64()
	if k == "dusk" {
		el = -2 + 8*rng.Float64()
	}
	l := newLight(k, 360*rng.Float64(), el)
	l.SunI *= 0.7 + 0.6*rng.Float64()
	l.Ambient *= 0.8 + 0.4*rng.Float64()
	l.SkyTop = jitterColor(rng, l.SkyTop, 0.15)
	l.SkyLow = jitterColor(rng, l.SkyLow, 0.1)
	l.Ground = jitterColor(rng, l.Ground, 0.3)
	return l
}

// randomScene builds a small random street (or a single wall) around a
// viewer and returns it with the view. Facades use the kit's textures.
func (k *datasetKit) randomScene(rng *rand.Rand, w, h int) (*World, *View, bool) {
	wd := &World{Light: randomLight(rng)}
	wd.ground = append(wd.ground, groundPoly{[]Vec3{{-400, -400, 0}, {400, -400, 0}, {400, 400, 0}, {-400, 400, 0}}, wd.Light.Ground})
	hfov := 40 + 50*rng.Float64()
	eye := Vec3{0, 0, 1.2 + 1.0*rng.Float64()}
	yaw := 0.0
	pitch := -2 + 30*rng.Float64()
	roll := 6 * (rng.Float64() - 0.5)
	wallOnly := rng.Float64() < 0.3
	addFacade := func(o, u, n Vec3, width, height float64) {
		t := k.bank[rng.IntN(len(k.bank))]
		f := &Facade{O: o, U: u, N: n, W: width, H: height, tex: t.tex, ppm: t.ppm, street: -2}
		wd.Facades = append(wd.Facades, f)
	}
	if wallOnly {
		// one facade ahead, seen at an angle
		dist := 3 + 14*rng.Float64()
		ang := rad(70 * (rng.Float64() - 0.5))
		n := Vec3{-math.Sin(ang), -math.Cos(ang), 0} // towards the viewer
		c := Vec3{math.Sin(ang) * dist, math.Cos(ang) * dist, 0}
		u := Vec3{-n.Y, n.X, 0}
		width := 30 + 20*rng.Float64()
		height := 8 + 15*rng.Float64()
		addFacade(c.Sub(u.Scale(width/2)), u, n, width, height)
		yaw = geo0(rad(40 * (rng.Float64() - 0.5)))
		pitch = 5 + 30*rng.Float64()
	} else {
		// a street along +y with buildings on both sides
		half := 4 + 8*rng.Float64()
		x0 := -half + 1 + rng.Float64()*(2*half-2)
		eye.X = x0
		for _, side := range []float64{-1, 1} {
			if rng.Float64() < 0.1 {
				continue
			}
			sb := half + 2*(rng.Float64()-0.5)
			y := -30 - 20*rng.Float64()
			for y < 150 {
				bw := 7 + 12*rng.Float64()
				bh := 8 + 16*rng.Float64()
				n := Vec3{-side, 0, 0}
				var o, u Vec3
				if side < 0 { // left side, facing +x: left-to-right runs along +y
					o, u = Vec3{-sb, y, 0}, Vec3{0, 1, 0}
				} else {
					o, u = Vec3{sb, y + bw, 0}, Vec3{0, -1, 0}
				}
				addFacade(o, u, n, bw, bh)
				y += bw
				if rng.Float64() < 0.15 {
					y += 3 + 4*rng.Float64()
				}
			}
		}
		// lamps and signs along the kerbs
		for y := 5 + 10*rng.Float64(); y < 120; y += 15 + 25*rng.Float64() {
			side := float64(1 - 2*rng.IntN(2))
			q := Vec3{side * (half - 1.5), y, 0}
			if rng.Float64() < 0.7 {
				hm, _ := lampMesh(rng, 5+3*rng.Float64(), 1.2+0.6*rng.Float64(), rng.IntN(3) == 0, 8, wd.Light.Dusk)
				o := wd.addObject("street_lamp", q, Heading(compass(-side, 0), 0, 0), hm, hm)
				o.setPole(q, 6)
			} else {
				kind := []string{"round_sign", "rect_sign"}[rng.IntN(2)]
				hm, _ := distractorMesh(rng, kind, 8, wd.Light.Dusk)
				o := wd.addObject(kind, q, Heading(180, 0, 0), hm, hm)
				o.setPole(q, 2.2)
			}
		}
		if rng.Float64() < 0.4 { // street trees along one or both kerbs
			sp := 7 + 8*rng.Float64()
			for y := sp * rng.Float64(); y < 100; y += sp {
				for _, side := range []float64{-1, 1} {
					if rng.Float64() < 0.6 {
						wd.addTree(rng, Vec3{side * (half - 1.2), y, 0}, 5+6*rng.Float64())
					}
				}
			}
		}
		yaw = 70 * (rng.Float64() - 0.5)
	}
	v := NewView(w, h, hfov, eye, yaw, pitch, roll)
	return wd, v, wallOnly
}

func geo0(r float64) float64 { return deg(r) }

// firstHit returns the distance along the ray from eye in direction d to
// the nearest facade facing the eye, and that facade.
func firstHit(wd *World, eye, d Vec3) (float64, *Facade) {
	best, bf := math.Inf(1), (*Facade)(nil)
	for _, f := range wd.Facades {
		den := d.Dot(f.N)
		if den >= -1e-9 || eye.Sub(f.O).Dot(f.N) <= 0 {
			continue
		}
		t := f.O.Sub(eye).Dot(f.N) / den
		if t <= 0 || t >= best {
			continue
		}
		q := eye.Add(d.Scale(t)).Sub(f.O)
		if x := q.Dot(f.U); x >= 0 && x <= f.W && q.Z >= 0 && q.Z <= f.H {
			best, bf = t, f
		}
	}
	return best, bf
}

// extentOf returns the largest dimension of a mesh's faces marked Body (or
// of the whole mesh when none is).
func extentOf(m *Mesh, bodyOnly bool) float64 {
	lo := Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := lo.Scale(-1)
	for _, f := range m.Faces {
		if bodyOnly && !f.Body {
			continue
		}
		for _, p := range f.Pts {
			lo = Vec3{math.Min(lo.X, p.X), math.Min(lo.Y, p.Y), math.Min(lo.Z, p.Z)}
			hi = Vec3{math.Max(hi.X, p.X), math.Max(hi.Y, p.Y), math.Max(hi.Z, p.Z)}
		}
	}
	d := hi.Sub(lo)
	return math.Max(d.X, math.Max(d.Y, d.Z))
}

// place puts one object (camera when typ != "", else a distractor of kind)
// into wd so that it appears about size pixels large, hanging on a wall
// the ray meets or on a pole. It returns false when no placement fits.
//
// In a procedural scene (sky nil) nothing floats: what is not on a wall
// stands on a pole. On a photo the photo supplies the context, and sky
// reports the pixels that look like open sky, which mostly get nothing.
func (k *datasetKit) place(rng *rand.Rand, wd *World, v *View, typ, kind string, sky func(x, y int) bool, taken *[]image.Rectangle) bool {
	photo := sky != nil
	for try := 0; try < 8; try++ {
		size := sizeTarget(rng)
		u := float64(v.W) * (0.03 + 0.94*rng.Float64())
		vv := float64(v.H) * (0.03 + 0.85*rng.Float64())
		if photo && sky(int(u), int(vv)) && (typ != "" || rng.Float64() < 0.95) {
			continue
		}
		ray := v.Ray(u, vv)
		tf, fac := firstHit(wd, v.Eye, ray)
		// build the mesh first to know its size
		var mesh *Mesh
		var centre Vec3
		mount := "wall"
		yawRel := 70 * (2*rng.Float64() - 1)
		tilt := 35 * rng.Float64()
		var look camLook
		if typ != "" {
			mounts := []string{"wall", "wall", "pole", "ceiling", "street_lamp"}
			mount = mounts[rng.IntN(len(mounts))]
			if typ == "dome" || typ == "ptz" {
				tilt = 0
			}
			look = randomLook(rng, typ)
			mesh, centre = cameraMesh(typ, mount, yawRel, tilt, look, 12)
			if ms := k.opt.Models; ms.Len() > 0 && mount == "wall" && rng.Float64() < 0.5 {
				// one of the loaded meshes of this type, if any
				var cand []int
				for mi, mt := range ms.Types {
					if mt == typ {
						cand = append(cand, mi)
					}
				}
				if len(cand) > 0 {
					mesh, centre = ms.instance(cand[rng.IntN(len(cand))], look, yawRel)
				}
			}
		} else {
			mesh, centre = distractorMesh(rng, kind, 12, wd.Light.Dusk)
		}
		needPole := false
		ext := extentOf(mesh, typ != "")
		d := v.F * ext / size
		onWall := false
		switch {
		case fac != nil && tf < d/1.25:
			continue // the wall is in the way: it would come out too large
		case fac != nil && tf < d*1.25:
			if typ != "" && mount != "wall" && mount != "ceiling" {
				continue // a pole cannot stand in a wall: try another spot
			}
			d = tf - 0.01
			onWall = true
		case fac != nil && d > tf-0.3:
			continue
		}
		if d < 0.4 || d > 120 {
			continue
		}
		hit := v.Eye.Add(ray.Scale(d))
		if hit.Z < 0.3 {
			continue
		}
		if !onWall && !photo {
			if rng.Float64() < map[bool]float64{true: 0.5, false: 0.7}[typ != ""] && try < 7 {
				continue // most things hang on walls: try another spot first
			}
			// free standing: on a pole (cameras switch to a pole mount)
			if typ != "" && mount != "pole" && mount != "street_lamp" {
				mount = "pole"
				mesh, centre = cameraMesh(typ, mount, yawRel, tilt, look, 12)
			}
			needPole = typ == "" || mount == "pole" || mount == "street_lamp"
			if hit.Z > 9 {
				continue
			}
		}
		var out Vec3
		if onWall {
			out = fac.N
		} else {
			// free: face roughly towards the viewer
			to := v.Eye.Sub(hit)
			to.Z = 0
			out = RotZ(rad(80 * (2*rng.Float64() - 1))).Apply(to.Norm())
		}
		rot := Heading(compass(out.X, out.Y), 0, 0)
		pos := hit.Sub(rot.Apply(centre))
		if onWall {
			pos = hit // the mount base sits on the wall
		}
		// screen footprint must not overlap what is already there
		px, py, ok := v.Project(pos.Add(rot.Apply(centre)))
		if !ok {
			continue
		}
		r := int(math.Max(size*0.7, 4))
		fp := image.Rect(int(px)-r, int(py)-r, int(px)+r, int(py)+r)
		clash := false
		for _, t := range *taken {
			if in := fp.Intersect(t); !in.Empty() && in.Dx()*in.Dy()*3 > min(fp.Dx()*fp.Dy(), t.Dx()*t.Dy()) {
				clash = true
				break
			}
		}
		if clash {
			continue
		}
		*taken = append(*taken, fp)
		o := wd.addObject(kind, pos, rot, mesh, mesh)
		if typ != "" {
			o.Kind = "camera"
			cam := &Camera{ID: fmt.Sprintf("c%d", len(wd.Cameras)), Type: typ, Mount: mount, obj: o,
				Pos: pos.Add(rot.Apply(centre))}
			for _, p := range mesh.bodyPoints() {
				cam.samples = append(cam.samples, pos.Add(rot.Apply(p)))
			}
			o.Camera = cam
			wd.Cameras = append(wd.Cameras, cam)
		} else {
			c, rr := mesh.bounds()
			o.occ = append(o.occ, OBox{C: pos.Add(rot.Apply(c)), Axes: [3]Vec3{rot.X, rot.Y, rot.Z}, Half: [3]float64{rr * 0.5, rr * 0.5, rr * 0.5}})
		}
		if needPole {
			// the pole stands behind the object (seen from the viewer)
			h := pos.Z + 0.3
			foot := Vec3{pos.X, pos.Y, 0}
			if typ == "" {
				foot = foot.Sub(out.Scale(0.12))
			}
			pm := poleMesh(rng, h, 8)
			po := wd.addObject("pole", foot, rot, pm, pm)
			po.setPole(foot, h)
		}
		return true
	}
	return false
}

// renderSample renders dataset image i into r.Frame.
func (k *datasetKit) renderSample(r *Renderer, i int) sample {
	rng := rand.New(rand.NewPCG(uint64(k.opt.Seed), uint64(i)*2654435761+1))
	s := sample{val: rng.Float64() < k.opt.ValFrac, negative: rng.Float64() < k.opt.NegFrac}
	wd, v, _ := k.randomScene(rng, r.W, r.H)
	photo := k.opt.Backgrounds.Len() > 0 && rng.Float64() < 0.35
	var bg gocv.Mat
	var sky func(x, y int) bool
	if photo {
		wd.Facades = nil
		wd.Objects = nil
		// of three crops, keep the one with the least open sky (judged on
		// thumbnails), then render it at full size
		var best photoCrop
		bestN := -1
		for try := 0; try < 3; try++ {
			c := k.opt.Backgrounds.pickCrop(rng, r.W, r.H)
			thumb := k.opt.Backgrounds.render(c, 64, 64)
			t := skyTest(thumb)
			thumb.Close()
			n := 0
			for y := 2; y < 64; y += 5 {
				for x := 2; x < 64; x += 5 {
					if !t(x, y) {
						n++
					}
				}
			}
			if n > bestN {
				best, bestN = c, n
			}
		}
		bg = k.opt.Backgrounds.render(best, r.W, r.H)
		sky = skyTest(bg)
		defer bg.Close()
	}
	var taken []image.Rectangle
	nd := 2 + rng.IntN(8)
	if s.negative {
		nd = 4 + rng.IntN(10)
	}
	var kinds []string // what may be placed: no street lamps, signs only on photos
	for _, kd := range DistractorKinds {
		if kd != "street_lamp" && (photo || kd != "round_sign" && kd != "rect_sign") {
			kinds = append(kinds, kd)
		}
	}
	for j := 0; j < nd; j++ {
		if k.place(rng, wd, v, "", kinds[rng.IntN(len(kinds))], sky, &taken) {
			s.distract++
		}
	}
	if !s.negative {
		nc := 1 + rng.IntN(4)
		if rng.Float64() < 0.25 {
			nc += rng.IntN(5)
		}
		for j := 0; j < nc; j++ {
			k.place(rng, wd, v, CameraTypes[rng.IntN(len(CameraTypes))], "", sky, &taken)
		}
	}
	if photo {
		bg.CopyTo(&r.Frame)
		r.fpoly, r.fbox = r.fpoly[:0], r.fbox[:0]
		r.drawObjects(wd, v)
	} else {
		r.Render(wd, v)
	}
	// labels from the truth of each camera
	for _, c := range wd.Cameras {
		b, ok := wd.truthBox(v, c)
		if !ok || b.Visible < 0.3 {
			continue
		}
		bw, bh := b.Box[2]-b.Box[0], b.Box[3]-b.Box[1]
		if bw < 3 || bh < 3 {
			continue
		}
		s.labels = append(s.labels, Label{Class: ClassID(c.Type),
			Cx: (float64(b.Box[0]) + float64(bw)/2) / float64(r.W), Cy: (float64(b.Box[1]) + float64(bh)/2) / float64(r.H),
			W: float64(bw) / float64(r.W), H: float64(bh) / float64(r.H),
			Box: image.Rect(b.Box[0], b.Box[1], b.Box[2], b.Box[3]), Visible: b.Visible})
	}
	k.augment(rng, r)
	return s
}

// augment applies random camera effects: exposure, colour cast, blur,
// resolution loss and sensor noise (JPEG artefacts come from the encoder).
func (k *datasetKit) augment(rng *rand.Rand, r *Renderer) {
	fx := PostFX{Gain: 0.65 + 0.7*rng.Float64(), Bias: 25 * (rng.Float64() - 0.5), Noise: 10 * rng.Float64() * rng.Float64(),
		NoiseX: rng.IntN(noisePad), NoiseY: rng.IntN(noisePad)}
	switch p := rng.Float64(); {
	case p < 0.25:
		fx.BlurX = 2 + 5*rng.Float64()
	case p < 0.35:
		fx.BlurY = 2 + 4*rng.Float64()
	case p < 0.6:
		fx.Soft = 0.4 + 0.8*rng.Float64()
	}
	if rng.Float64() < 0.15 {
		f := 0.45 + 0.4*rng.Float64()
		small := gocv.NewMat()
		gocv.Resize(r.Frame, &small, image.Pt(int(float64(r.W)*f), int(float64(r.H)*f)), 0, 0, gocv.InterpolationArea)
		gocv.Resize(small, &r.Frame, image.Pt(r.W, r.H), 0, 0, gocv.InterpolationLinear)
		small.Close()
	}
	// colour cast and gamma through a per-channel lookup table
	if rng.Float64() < 0.7 {
		gamma := math.Exp(0.35 * (2*rng.Float64() - 1))
		var tb [256 * 3]byte
		for c := 0; c < 3; c++ {
			g := 1 + 0.12*(2*rng.Float64()-1)
			for x := 0; x < 256; x++ {
				tb[3*x+c] = uint8(clamp(255*math.Pow(float64(x)/255, gamma)*g+0.5, 0, 255))
			}
		}
		lut, _ := gocv.NewMatFromBytes(1, 256, gocv.MatTypeCV8UC3, tb[:])
		gocv.LUT(r.Frame, lut, &r.Frame)
		lut.Close()
	}
	r.Post(fx)
}

// GenerateDataset renders a YOLO-format detection dataset into out:
// images/{train,val}/NNNNNN.jpg, labels/{train,val}/NNNNNN.txt ("class cx
// cy w h", normalised), data.yaml and dataset.json. The same options give
// the same files, whatever the number of workers.
func GenerateDataset(ctx context.Context, out string, opt DatasetOptions) (*DatasetSummary, error) {
	opt, err := opt.check()
	if err != nil {
		return nil, err
	}
	kit := newDatasetKit(opt)
	defer kit.close()
	return generateDataset(ctx, out, kit)
}

// check validates o and fills in its defaults.
func (opt DatasetOptions) check() (DatasetOptions, error) {
	if opt.N <= 0 {
		return opt, fmt.Errorf("dataset: --n must be > 0, got %d", opt.N)
	}
	if opt.Width == 0 {
		opt.Width, opt.Height = 640, 640
	}
	if opt.Width < 64 || opt.Height < 64 || opt.Width > 4096 || opt.Height > 4096 {
		return opt, fmt.Errorf("dataset: size %dx%d out of range 64..4096", opt.Width, opt.Height)
	}
	if opt.ValFrac < 0 || opt.ValFrac >= 1 {
		return opt, fmt.Errorf("dataset: --val-frac must be within [0, 1), got %g", opt.ValFrac)
	}
	if opt.NegFrac < 0 || opt.NegFrac >= 1 {
		return opt, fmt.Errorf("dataset: negative share must be within [0, 1), got %g", opt.NegFrac)
	}
	return opt, nil
}

// generateDataset renders kit.opt.N images with the textures of kit.
func generateDataset(ctx context.Context, out string, kit *datasetKit) (*DatasetSummary, error) {
	opt := kit.opt
	for _, d := range []string{"images/train", "images/val", "labels/train", "labels/val"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating dataset folders: %w", err)
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	sum := &DatasetSummary{Seed: opt.Seed, Images: opt.N, Width: opt.Width, Height: opt.Height,
		Objects: map[string]int{}, BySize: map[string]int{"<16": 0, "16-32": 0, ">32": 0}}
	if opt.Backgrounds != nil {
		for _, n := range opt.Backgrounds.Names {
			sum.BgPhotos = append(sum.BgPhotos, filepath.Base(n))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	type result struct {
		i   int
		s   sample
		err error
	}
	results := make(chan result, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := NewRenderer(opt.Width, opt.Height, uint64(opt.Seed)+0xda7a)
			defer r.Close()
			for i := range jobs {
				s := kit.renderSample(r, i)
				err := writeSample(out, i, r, s, rand.New(rand.NewPCG(uint64(opt.Seed), uint64(i)+0x1e9)))
				select {
				case results <- result{i, s, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := 0; i < opt.N; i++ {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	prog := newProgress(opt.Progress, "sim dataset", opt.N, "images")
	done := 0
	var firstErr error
	for res := range results {
		if res.err != nil && firstErr == nil {
			firstErr = res.err
			cancel()
		}
		done++
		if res.s.val {
			sum.Val++
		} else {
			sum.Train++
		}
		if len(res.s.labels) == 0 {
			sum.Negatives++
		}
		sum.Distract += res.s.distract
		for _, l := range res.s.labels {
			sum.Objects[CameraTypes[l.Class]]++
			switch m := max(l.Box.Dx(), l.Box.Dy()); {
			case m < 16:
				sum.BySize["<16"]++
			case m <= 32:
				sum.BySize["16-32"]++
			default:
				sum.BySize[">32"]++
			}
		}
		prog.step(done)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prog.done()
	abs, err := filepath.Abs(out)
	if err != nil {
		abs = out
	}
	yaml := fmt.Sprintf("# written by camaudit sim dataset --n %d --seed %d\npath: %s\ntrain: images/train\nval: images/val\nnc: %d\nnames: [%s]\n",
		opt.N, opt.Seed, abs, len(CameraTypes), strings.Join(CameraTypes, ", "))
	if err := os.WriteFile(filepath.Join(out, "data.yaml"), []byte(yaml), 0o644); err != nil {
		return nil, fmt.Errorf("writing data.yaml: %w", err)
	}
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "dataset.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("writing dataset.json: %w", err)
	}
	return sum, nil
}

// writeSample encodes r.Frame as JPEG (random quality) and writes its labels.
func writeSample(out string, i int, r *Renderer, s sample, rng *rand.Rand) error {
	split := "train"
	if s.val {
		split = "val"
	}
	name := fmt.Sprintf("%06d", i)
	q := 40 + rng.IntN(56)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, r.Frame, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return fmt.Errorf("encoding image %d: %w", i, err)
	}
	defer buf.Close()
	if err := os.WriteFile(filepath.Join(out, "images", split, name+".jpg"), buf.GetBytes(), 0o644); err != nil {
		return fmt.Errorf("writing image %d: %w", i, err)
	}
	var sb strings.Builder
	for _, l := range s.labels {
		fmt.Fprintf(&sb, "%d %.6f %.6f %.6f %.6f\n", l.Class, l.Cx, l.Cy, l.W, l.H)
	}
	if err := os.WriteFile(filepath.Join(out, "labels", split, name+".txt"), []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("writing labels %d: %w", i, err)
	}
	return nil
}

// skyTest returns a test for "open sky" at a pixel of img, judged on a
// 64×64 thumbnail: a smooth neighbourhood that is bright or blue.
func skyTest(img gocv.Mat) func(x, y int) bool {
	const n = 64
	small := gocv.NewMat()
	gocv.Resize(img, &small, image.Pt(n, n), 0, 0, gocv.InterpolationArea)
	px := small.ToBytes()
	small.Close()
	sx, sy := float64(n)/float64(img.Cols()), float64(n)/float64(img.Rows())
	return func(x, y int) bool {
		cx, cy := int(float64(x)*sx), int(float64(y)*sy)
		var cnt, sum, sq, blue float64
		for yy := max(cy-1, 0); yy <= min(cy+1, n-1); yy++ {
			for xx := max(cx-1, 0); xx <= min(cx+1, n-1); xx++ {
				b, g, r := float64(px[3*(yy*n+xx)]), float64(px[3*(yy*n+xx)+1]), float64(px[3*(yy*n+xx)+2])
				v := 0.114*b + 0.587*g + 0.299*r
				cnt, sum, sq, blue = cnt+1, sum+v, sq+v*v, blue+b-r
			}
		}
		mean := sum / cnt
		smooth := sq/cnt-mean*mean < 40
		return smooth && (mean > 150 || blue/cnt > 25)
	}
}
